// DecoderActivations: every buffer one MoeDecoder::Forward touches, in one struct, each with its
// shape. Sized by Reserve for at most `max_tokens` tokens per call over a context of `context`
// positions, and never shrunk; a Forward within those bounds allocates nothing (decode is n = 1,
// so once a session is set up every decode step runs on these buffers alone).
//
// The whole struct is charged to the MemoryLedger as kActivations for as long as it is held, so
// the ledger's activation figure is exactly bytes().
//
// Not thread-safe: owned by one decoder, used by its one Forward at a time (the workers of its
// thread pool write disjoint rows: attention's `scores` has one row per worker).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "util/memory_ledger.h"

namespace omnisage {

// One (token, routed expert) pair of a MoE layer, grouped by expert.
struct ExpertUse {
  int32_t token;  // row in the batch
  int32_t slot;   // position in that token's chosen list
  float weight;   // its mixing weight
};

struct DecoderActivations {
  // Sizes for `config`: `max_k` experts per token at most (the selector's maximum), `workers`
  // threads of attention. Grows (never shrinks) to hold `max_tokens` tokens over `context`
  // positions; `contributions` adds the per-slot expert outputs SAGE's trust records read.
  void Reserve(const DecoderConfig& config, int64_t max_tokens, int64_t context, int max_k,
               int workers, bool contributions);
  uint64_t bytes() const { return bytes_; }
  // What Reserve holds after sizing fresh buffers for these figures: every buffer's capacity is
  // its element count, so this is exact (the memory planner's figure, runtime/memory_plan.h).
  static uint64_t BytesFor(const DecoderConfig& config, int64_t max_tokens, int64_t context,
                           int max_k, int workers, bool contributions);

  int64_t max_tokens = 0;
  int64_t context = 0;
  int max_k = 0;
  int workers = 0;

  // The residual stream.
  std::vector<float> x;       // [max_tokens, hidden]   the tokens' hidden states
  std::vector<float> normed;  // [max_tokens, hidden]   RMSNorm(x) feeding a block
  std::vector<float> delta;   // [max_tokens, hidden]   a block's output, added to x

  // Attention.
  std::vector<float> q;         // [max_tokens, heads · head_dim]     q-normed, rotated queries
  std::vector<float> k;         // [max_tokens, kv_heads · head_dim]  this call's keys
  std::vector<float> v;         // [max_tokens, kv_heads · head_dim]  this call's values
  std::vector<float> attn;      // [max_tokens, heads · head_dim]     softmax(qkᵀ)·v per head
  std::vector<float> scores;    // [workers, context]   one row of attention weights per worker
  std::vector<float> rope_cos;  // [head_dim / 2]
  std::vector<float> rope_sin;  // [head_dim / 2]

  // Routing.
  std::vector<float> router_probs;    // [max_tokens, experts]  softmax of the router logits
  std::vector<int32_t> chosen;        // [max_tokens, max_k]    each token's experts
  std::vector<float> chosen_weights;  // [max_tokens, max_k]    and their mixing weights
  std::vector<int32_t> chosen_count;  // [max_tokens]           how many each token has
  std::vector<int32_t>
      uses_begin;                  // [experts + 1]          expert e's uses: [begin[e], begin[e+1])
  std::vector<ExpertUse> uses;     // [max_tokens · max_k]   (token, slot, weight), by expert
  std::vector<int32_t> uses_fill;  // [experts]              next free use slot while grouping
  std::vector<int32_t> used_experts;  // [experts]              experts with a use, ascending

  // Running one routed expert on the rows routed to it.
  std::vector<float> expert_in;    // [max_tokens, hidden]
  std::vector<float> expert_gate;  // [max_tokens, moe_inter]  gate, then SwiGLU(gate, up)
  std::vector<float> expert_up;    // [max_tokens, moe_inter]
  std::vector<float> expert_out;   // [max_tokens, hidden]
  // Each (token, slot)'s own expert output, only when contributions are observed.
  std::vector<float> slot_outputs;  // [max_tokens, max_k, hidden] or empty

  // Dense MLP layers (none in Qwen3-Omni; mlp_only_layers of Qwen3-MoE).
  std::vector<float> mlp_gate;  // [max_tokens, intermediate]
  std::vector<float> mlp_up;    // [max_tokens, intermediate]

  // The shared expert of MoE layers (the talker's; empty without one).
  std::vector<float> shared_gate;   // [max_tokens, shared_inter]  gate, then SwiGLU(gate, up)
  std::vector<float> shared_up;     // [max_tokens, shared_inter]
  std::vector<float> shared_out;    // [max_tokens, hidden]
  std::vector<float> shared_score;  // [max_tokens]               shared_expert_gate · normed

  // Next-layer prediction during decode (one token).
  std::vector<float> predict_normed;     // [hidden]
  std::vector<float> predict_probs;      // [experts]
  std::vector<int32_t> predict_experts;  // [experts]
  std::vector<float> predict_weights;    // [experts]

 private:
  template <typename F>
  static void Layout(const DecoderConfig& c, int64_t n, int64_t context, int max_k, int workers,
                     bool contributions, F&& f);

  uint64_t bytes_ = 0;
  LedgerCharge charge_;  // kActivations, bytes_
};

}  // namespace omnisage

// The decoder stack shared by Qwen3-MoE, the Qwen3-Omni thinker's text model, the talker and the
// code predictor: per layer RMSNorm → grouped-query attention (per-head q/k RMSNorm, then RoPE,
// causal, KV cache) → residual → RMSNorm → MoE (softmax over all experts in fp32, top-k,
// renormalise when norm_topk_prob, SwiGLU experts; plus, in the talker, a shared SwiGLU expert
// gated by sigmoid(shared_expert_gate · h)) or dense SwiGLU MLP → residual. Spec §4, §8.3.
//
// Dense weights are loaded into memory by Load; routed experts come through an ExpertProvider.
// A batch of n tokens (prefill) is processed layer by layer with tokens grouped by expert, so each
// expert's weights are read once per batch; decode is the n = 1 case.
// Not thread-safe: one Forward at a time (it parallelises internally over `pool`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/activations.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "model/expert_selector.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

// What the router chose for one token in one layer (for traces, statistics and SAGE).
struct RoutingEvent {
  int layer;
  int64_t token;           // index within the batch
  int64_t position;        // absolute position in the sequence
  const float* probs;      // softmax over all experts [num_experts]
  const int32_t* experts;  // chosen experts [k]
  const float* weights;    // their (renormalised) weights [k]
  int k;
};
using RoutingObserver = std::function<void(const RoutingEvent&)>;

// The vision encoder's deepstack features of a batch (spec §7.3): after decoder layer k <
// `levels`, features[k] is added to the hidden states of the visual tokens, row i to the token at
// batch index rows[i] (after that layer's residual add, as transformers' _deepstack_process).
struct DeepstackInputs {
  const int64_t* rows = nullptr;  // [count] batch indices of the visual tokens, ascending
  int64_t count = 0;
  const float* features = nullptr;  // [levels, count, hidden]
  int levels = 0;
};

class MoeDecoder {
 public:
  // `prefix`: the stack's tensor-name prefix ("model.", "thinker.model."). `experts` must outlive
  // the decoder; it may be null only if no layer is MoE.
  static StatusOr<std::unique_ptr<MoeDecoder>> Load(const WeightSource& source,
                                                    const DecoderConfig& config,
                                                    const std::string& prefix,
                                                    ExpertProvider* experts);

  // x: [n, hidden], the inputs at cache slots cache->length() .. + n − 1; replaced by the outputs
  // (before the final norm). Appends to the cache. `positions` [n, 3]: each token's rotary
  // (t, h, w) (rope_index.h); null: the slot index on every axis (text). `deepstack` (may be
  // null): visual features added after the first layers. Allocates nothing when
  // Reserve covered n tokens over the cache's capacity (it grows the activations otherwise).
  // Errors: the cache is full (nothing is appended), or an expert could not be loaded.
  Status Forward(float* x, int64_t n, KvCache* cache, ThreadPool* pool,
                 const float* positions = nullptr, const DeepstackInputs* deepstack = nullptr);

  // One decode step of n sequences at once (the server's batches): row t of x [n, hidden] is the
  // next token of the sequence whose KV cache is caches[t] (all different), at slot
  // caches[t]->length(); each cache grows by one. `positions` [n, 3] as in Forward. Tokens are
  // grouped by expert across the sequences, so an expert is acquired (and, under a budget, read)
  // once per step for all of them; every row is computed as it is alone, so each sequence gets
  // the bits Forward gives it (no next-layer prefetch, no hidden observer in a batch). Errors: a
  // full cache (nothing is appended), an expert that could not be loaded.
  Status ForwardBatch(float* x, int64_t n, KvCache* const* caches, ThreadPool* pool,
                      const float* positions = nullptr);

  // Sizes the activations for up to `max_tokens` tokens per Forward over `context` positions,
  // attention split over `workers` threads.
  void Reserve(int64_t max_tokens, int64_t context, int workers);
  DecoderActivations& activations() { return act_; }
  const DecoderActivations& activations() const { return act_; }

  void set_routing_observer(RoutingObserver observer) { observer_ = std::move(observer); }
  // Replaces exact top-k routing (null restores it). Not owned; must outlive its use.
  void set_selector(ExpertSelector* selector) { selector_ = selector; }
  // Called once per (token, chosen expert) after each MoE layer; costs a copy of every expert
  // output, so set it only when it is used.
  void set_contribution_observer(std::function<void(const ExpertContribution&)> observer) {
    contribution_observer_ = std::move(observer);
  }
  // Next-layer prediction during decode: the next layer's router applied to the current hidden
  // state names the experts to Prefetch (on by default).
  void set_prefetch(bool on) { prefetch_ = on; }
  // Called during Forward with the hidden states after the first `layers` layers (transformers'
  // hidden_states[layers]): rows [n, hidden] of the tokens at slots start … start + n − 1. The
  // talker reads the thinker's accept_hidden_layer through it; it sees a layer's output before
  // any deepstack features are added (transformers records the layer's own output). Null (or
  // layers <= 0) clears it.
  using HiddenObserver = std::function<void(const float* rows, int64_t n, int64_t start)>;
  void set_hidden_observer(int layers, HiddenObserver observer) {
    hidden_layers_ = layers;
    hidden_observer_ = std::move(observer);
  }
  const DecoderConfig& config() const { return config_; }
  KvCache NewCache(int64_t capacity) const {
    return KvCache(config_.num_layers, capacity, config_.num_kv_heads * config_.head_dim);
  }
  // NewCache(capacity).bytes(), without making one.
  uint64_t CacheBytes(int64_t capacity) const {
    return KvCache::BytesFor(config_.num_layers, capacity, config_.num_kv_heads * config_.head_dim);
  }

 private:
  struct Layer {
    Bf16Tensor input_norm, q_norm, k_norm, post_norm;
    LinearWeight q_proj, k_proj, v_proj, o_proj;  // bf16, or int8 (extract --quant-dense)
    Bf16Tensor router;                            // MoE layers
    LinearWeight mlp_gate, mlp_up, mlp_down;      // dense layers
    // The shared expert of MoE layers (talker): SwiGLU [shared_inter, hidden] and its gate
    // [1, hidden]; empty when shared_expert_intermediate_size is 0.
    LinearWeight shared_gate, shared_up, shared_down;
    Bf16Tensor shared_expert_gate;
    bool moe = false;
    bool shared = false;
  };

  explicit MoeDecoder(const DecoderConfig& c) : config_(c), rope_(c) {}
  // The most experts one token may be routed to (the selector's maximum, else top-k).
  int MaxExpertsPerToken() const;
  // The layers over n rows whose caches and slots are row_caches_ and row_slots_.
  Status Run(float* x, int64_t n, int64_t context, ThreadPool* pool, const float* positions,
             const DeepstackInputs* deepstack = nullptr);
  // ops::MatMulBf16, row by row in a batch (see ForwardBatch).
  void MatMul(const float* x, int64_t n, int64_t in, const uint16_t* w, int64_t out, float* y,
              ThreadPool* pool) const;
  // The same for a weight in any format (bf16 as above; int8/int4: ops::MatMulQuant, whose rows
  // do not depend on the batch): expert projections, and the layers' LinearWeights.
  void MatMul(const float* x, int64_t n, int64_t in, const QuantMatrix& w, int64_t out, float* y,
              ThreadPool* pool) const;
  // Each step reads act_.normed and writes act_.delta [n, hidden] unless it says otherwise.
  void Attention(const Layer& w, int layer, int64_t n, const float* positions, ThreadPool* pool);
  void PredictNext(int layer, const float* x);
  // x[d.rows[i]] += d.features[level][i] for every visual token.
  void AddDeepstack(const DeepstackInputs& d, int level, float* x) const;
  // Routes every token (router softmax, exact top-k or the selector), groups the uses by expert
  // into act_.uses; returns how many distinct experts were chosen (act_.used_experts).
  int Route(const Layer& w, int layer, int64_t n, ThreadPool* pool);
  // delta = Σ weight · expert(normed) over the routed experts, run in index order.
  Status RunExperts(int layer, int64_t n, int used, ThreadPool* pool);
  // act_.expert_out = SwiGLU expert applied to the `m` rows gathered in act_.expert_in.
  void RunExpert(const ExpertWeights& w, int64_t m, ThreadPool* pool);
  void ReportContributions(int layer, int used);
  void DenseMlp(const Layer& w, int64_t n, ThreadPool* pool);
  // delta += sigmoid(shared_expert_gate · normed) · SwiGLU shared expert(normed).
  void SharedExpert(const Layer& w, int64_t n, ThreadPool* pool);

  DecoderConfig config_;
  Rope rope_;
  std::vector<Layer> layers_;
  DecoderActivations act_;
  ExpertProvider* experts_ = nullptr;
  RoutingObserver observer_;
  ExpertSelector* selector_ = nullptr;
  std::function<void(const ExpertContribution&)> contribution_observer_;
  bool prefetch_ = true;
  int hidden_layers_ = 0;
  HiddenObserver hidden_observer_;
  // The pass under way: each row's KV cache and slot, and whether it is a batch of sequences.
  std::vector<KvCache*> row_caches_;
  std::vector<int64_t> row_slots_;
  bool batch_ = false;
};

}  // namespace omnisage

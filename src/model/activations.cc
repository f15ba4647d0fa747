#include "model/activations.h"

#include <algorithm>

namespace omnisage {
namespace {

// Grows `v` to at least n elements (never shrinks: a buffer sized for a prefill stays for decode)
// and returns the bytes it holds.
template <typename T>
uint64_t Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
  return v.capacity() * sizeof(T);
}

}  // namespace

void DecoderActivations::Reserve(const DecoderConfig& c, int64_t tokens, int64_t ctx, int k,
                                 int threads, bool contributions) {
  max_tokens = std::max(max_tokens, tokens);
  context = std::max(context, ctx);
  max_k = std::max(max_k, k);
  workers = std::max(workers, threads);
  const int64_t n = max_tokens, hidden = c.hidden_size;
  const int64_t experts = c.num_experts, moe_inter = c.moe_intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  bool dense_layers = false;
  for (int64_t l = 0; l < c.num_layers; ++l) dense_layers |= !c.IsMoeLayer(l);
  const int64_t inter = dense_layers ? c.intermediate_size : 0;
  const int64_t routed = experts > 0 ? n : 0;  // rows of the MoE buffers

  // Every buffer once: its size here is its shape in the header.
  uint64_t b = 0;
  b += Grow(x, n * hidden);
  b += Grow(normed, n * hidden);
  b += Grow(delta, n * hidden);
  b += Grow(q, n * q_dim);
  b += Grow(this->k, n * kv_dim);
  b += Grow(v, n * kv_dim);
  b += Grow(attn, n * q_dim);
  b += Grow(scores, workers * context);
  b += Grow(rope_cos, c.head_dim / 2);
  b += Grow(rope_sin, c.head_dim / 2);
  b += Grow(router_probs, routed * experts);
  b += Grow(chosen, routed * max_k);
  b += Grow(chosen_weights, routed * max_k);
  b += Grow(chosen_count, routed);
  b += Grow(uses_begin, experts + 1);
  b += Grow(uses, routed * max_k);
  b += Grow(uses_fill, experts);
  b += Grow(used_experts, experts);
  b += Grow(expert_in, routed * hidden);
  b += Grow(expert_gate, routed * moe_inter);
  b += Grow(expert_up, routed * moe_inter);
  b += Grow(expert_out, routed * hidden);
  b += Grow(slot_outputs, contributions ? routed * max_k * hidden : 0);
  b += Grow(mlp_gate, n * inter);
  b += Grow(mlp_up, n * inter);
  const int64_t shared = experts > 0 ? c.shared_expert_intermediate_size : 0;
  b += Grow(shared_gate, n * shared);
  b += Grow(shared_up, n * shared);
  b += Grow(shared_out, shared > 0 ? n * hidden : 0);
  b += Grow(shared_score, shared > 0 ? n : 0);
  b += Grow(predict_normed, experts > 0 ? hidden : 0);
  b += Grow(predict_probs, experts);
  b += Grow(predict_experts, experts);
  b += Grow(predict_weights, experts);
  bytes_ = b;
  charge_ = LedgerCharge(MemoryKind::kActivations, bytes_);
}

}  // namespace omnisage

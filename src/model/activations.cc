#include "model/activations.h"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace omnisage {
namespace {

// Grows `v` to at least n elements (never shrinks: a buffer sized for a prefill stays for decode)
// and returns the bytes it holds.
template <typename T>
uint64_t Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) {
    v.reserve(n);  // exactly n: resize alone may double the capacity
    v.resize(n);
  }
  return v.capacity() * sizeof(T);
}

}  // namespace

// Every buffer once, with its element count: Reserve grows each to it, BytesFor adds them up.
// `f(member, count)` is called with a pointer to the member and its count.
template <typename F>
void DecoderActivations::Layout(const DecoderConfig& c, int64_t n, int64_t context, int max_k,
                                int workers, bool contributions, F&& f) {
  const int64_t hidden = c.hidden_size;
  const int64_t experts = c.num_experts, moe_inter = c.moe_intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  bool dense_layers = false;
  for (int64_t l = 0; l < c.num_layers; ++l) dense_layers |= !c.IsMoeLayer(l);
  const int64_t inter = dense_layers ? c.intermediate_size : 0;
  const int64_t routed = experts > 0 ? n : 0;  // rows of the MoE buffers
  using A = DecoderActivations;
  f(&A::x, n * hidden);
  f(&A::normed, n * hidden);
  f(&A::delta, n * hidden);
  f(&A::q, n * q_dim);
  f(&A::k, n * kv_dim);
  f(&A::v, n * kv_dim);
  f(&A::attn, n * q_dim);
  f(&A::scores, workers * context);
  f(&A::rope_cos, c.head_dim / 2);
  f(&A::rope_sin, c.head_dim / 2);
  f(&A::router_probs, routed * experts);
  f(&A::chosen, routed * max_k);
  f(&A::chosen_weights, routed * max_k);
  f(&A::chosen_count, routed);
  f(&A::uses_begin, experts + 1);
  f(&A::uses, routed * max_k);
  f(&A::uses_fill, experts);
  f(&A::used_experts, experts);
  f(&A::expert_in, routed * hidden);
  f(&A::expert_gate, routed * moe_inter);
  f(&A::expert_up, routed * moe_inter);
  f(&A::expert_out, routed * hidden);
  f(&A::slot_outputs, contributions ? routed * max_k * hidden : 0);
  f(&A::mlp_gate, n * inter);
  f(&A::mlp_up, n * inter);
  const int64_t shared = experts > 0 ? c.shared_expert_intermediate_size : 0;
  f(&A::shared_gate, n * shared);
  f(&A::shared_up, n * shared);
  f(&A::shared_out, shared > 0 ? n * hidden : 0);
  f(&A::shared_score, shared > 0 ? n : 0);
  f(&A::predict_normed, experts > 0 ? hidden : 0);
  f(&A::predict_probs, experts);
  f(&A::predict_experts, experts);
  f(&A::predict_weights, experts);
}

uint64_t DecoderActivations::BytesFor(const DecoderConfig& c, int64_t max_tokens, int64_t context,
                                      int max_k, int workers, bool contributions) {
  uint64_t b = 0;
  Layout(c, max_tokens, context, max_k, workers, contributions, [&](auto member, int64_t n) {
    using T = typename std::remove_reference_t<decltype(std::declval<DecoderActivations&>().*
                                                        member)>::value_type;
    b += static_cast<uint64_t>(n) * sizeof(T);
  });
  return b;
}

void DecoderActivations::Reserve(const DecoderConfig& c, int64_t tokens, int64_t ctx, int k,
                                 int threads, bool contributions) {
  max_tokens = std::max(max_tokens, tokens);
  context = std::max(context, ctx);
  max_k = std::max(max_k, k);
  workers = std::max(workers, threads);
  uint64_t b = 0;
  Layout(c, max_tokens, context, max_k, workers, contributions,
         [&](auto member, int64_t n) { b += Grow(this->*member, n); });
  bytes_ = b;
  charge_ = LedgerCharge(MemoryKind::kActivations, bytes_);
}

}  // namespace omnisage

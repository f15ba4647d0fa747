#include "model/decoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/ops.h"
#include "util/memory_ledger.h"
#include "util/thread_pool.h"

namespace omnisage {

StatusOr<std::unique_ptr<MoeDecoder>> MoeDecoder::Load(const WeightSource& source,
                                                       const DecoderConfig& c,
                                                       const std::string& prefix,
                                                       ExpertProvider* experts) {
  std::unique_ptr<MoeDecoder> d(new MoeDecoder(c));
  d->experts_ = experts;
  const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  d->layers_.resize(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const DecoderLayerNames n = LayerNames(prefix, l);
    Layer& w = d->layers_[l];
    auto load = [&](Bf16Tensor* dst, const std::string& name,
                    std::vector<int64_t> shape) -> Status {
      OMNI_ASSIGN_OR_RETURN(*dst, LoadBf16(source, name, shape));
      return Status::Ok();
    };
    OMNI_RETURN_IF_ERROR(load(&w.input_norm, n.input_norm, {h}));
    OMNI_RETURN_IF_ERROR(load(&w.q_proj, n.q_proj, {q_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.k_proj, n.k_proj, {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.v_proj, n.v_proj, {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.o_proj, n.o_proj, {h, q_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.q_norm, n.q_norm, {c.head_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.k_norm, n.k_norm, {c.head_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.post_norm, n.post_norm, {h}));
    w.moe = c.IsMoeLayer(l);
    if (w.moe) {
      if (experts == nullptr) return Internal("MoeDecoder::Load: no ExpertProvider");
      OMNI_RETURN_IF_ERROR(load(&w.router, n.router, {c.num_experts, h}));
    } else {
      OMNI_RETURN_IF_ERROR(load(&w.mlp_gate, n.mlp_gate, {c.intermediate_size, h}));
      OMNI_RETURN_IF_ERROR(load(&w.mlp_up, n.mlp_up, {c.intermediate_size, h}));
      OMNI_RETURN_IF_ERROR(load(&w.mlp_down, n.mlp_down, {h, c.intermediate_size}));
    }
  }
  return d;
}

Status MoeDecoder::Forward(float* x, int64_t n, KvCache* cache, ThreadPool* pool) {
  const int64_t h = config_.hidden_size;
  if (cache->length() + n > cache->capacity()) {
    return OutOfRange(fmt::format("context of {} tokens exceeds the KV cache capacity {}",
                                  cache->length() + n, cache->capacity()));
  }
  const LedgerCharge activations(MemoryKind::kActivations, ActivationBytes(n, cache->length() + n));
  std::vector<float> normed(n * h), delta(n * h);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& w = layers_[l];
    for (int64_t t = 0; t < n; ++t) {
      ops::RmsNorm(x + t * h, w.input_norm.ptr(), h, config_.rms_norm_eps, normed.data() + t * h);
    }
    Attention(w, static_cast<int>(l), normed.data(), n, cache, delta.data(), pool);
    for (int64_t i = 0; i < n * h; ++i) x[i] += delta[i];
    for (int64_t t = 0; t < n; ++t) {
      ops::RmsNorm(x + t * h, w.post_norm.ptr(), h, config_.rms_norm_eps, normed.data() + t * h);
    }
    if (w.moe) {
      if (n == 1) PredictNext(static_cast<int>(l), x);
      OMNI_RETURN_IF_ERROR(
          Moe(w, static_cast<int>(l), cache->length(), normed.data(), n, delta.data(), pool));
    } else {
      DenseMlp(w, normed.data(), n, delta.data(), pool);
    }
    for (int64_t i = 0; i < n * h; ++i) x[i] += delta[i];
  }
  cache->set_length(cache->length() + n);
  return Status::Ok();
}

uint64_t MoeDecoder::ActivationBytes(int64_t n, int64_t context) const {
  const DecoderConfig& c = config_;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  const int64_t inter = std::max(c.intermediate_size, c.moe_intermediate_size);
  // The largest buffers live at once: normed + delta, q/k/v/attn, and the MoE's router
  // probabilities with one expert's inputs, gate, up and down rows; plus attention scores.
  const int64_t floats = n * (2 * c.hidden_size + 2 * q_dim + 2 * kv_dim) +
                         n * (c.num_experts + 2 * c.hidden_size + 2 * inter) + context;
  return static_cast<uint64_t>(floats) * sizeof(float);
}

void MoeDecoder::Attention(const Layer& w, int layer, const float* h, int64_t n, KvCache* cache,
                           float* out, ThreadPool* pool) {
  const DecoderConfig& c = config_;
  const int64_t hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const int64_t q_dim = nh * hd, kv_dim = nkv * hd, start = cache->length();
  std::vector<float> q(n * q_dim), k(n * kv_dim), v(n * kv_dim);
  ops::MatMulBf16(h, n, c.hidden_size, w.q_proj.ptr(), q_dim, q.data(), pool);
  ops::MatMulBf16(h, n, c.hidden_size, w.k_proj.ptr(), kv_dim, k.data(), pool);
  ops::MatMulBf16(h, n, c.hidden_size, w.v_proj.ptr(), kv_dim, v.data(), pool);
  // Per-head q/k RMSNorm, then RoPE (the norm comes first, as in the reference).
  std::vector<float> cos(rope_.half()), sin(rope_.half());
  for (int64_t t = 0; t < n; ++t) {
    rope_.Angles(start + t, cos.data(), sin.data());
    for (int64_t i = 0; i < nh; ++i) {
      float* qh = q.data() + t * q_dim + i * hd;
      ops::RmsNorm(qh, w.q_norm.ptr(), hd, c.rms_norm_eps, qh);
      ops::RopeRotateHalf(qh, hd, cos.data(), sin.data());
    }
    for (int64_t i = 0; i < nkv; ++i) {
      float* kh = k.data() + t * kv_dim + i * hd;
      ops::RmsNorm(kh, w.k_norm.ptr(), hd, c.rms_norm_eps, kh);
      ops::RopeRotateHalf(kh, hd, cos.data(), sin.data());
    }
    std::copy_n(k.data() + t * kv_dim, kv_dim, cache->k(layer, start + t));
    std::copy_n(v.data() + t * kv_dim, kv_dim, cache->v(layer, start + t));
  }
  // Causal attention; each (token, head) pair is independent.
  std::vector<float> attn(n * q_dim);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group = nh / nkv;
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> scores(start + n);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / nh, head = job % nh, g = head / group;
      const int64_t len = start + t + 1;
      const float* qh = q.data() + t * q_dim + head * hd;
      for (int64_t j = 0; j < len; ++j) {
        scores[j] = ops::Dot(qh, cache->k(layer, j) + g * hd, hd) * scale;
      }
      ops::Softmax(scores.data(), len);
      float* o = attn.data() + t * q_dim + head * hd;
      std::fill_n(o, hd, 0.0f);
      for (int64_t j = 0; j < len; ++j) ops::Axpy(scores[j], cache->v(layer, j) + g * hd, hd, o);
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(n * nh, work);
  } else {
    work(0, n * nh);
  }
  ops::MatMulBf16(attn.data(), n, q_dim, w.o_proj.ptr(), c.hidden_size, out, pool);
}

int SelectTopK(const float* probs, int num_experts, int k, bool normalize, int32_t* experts,
               float* weights) {
  k = std::clamp(k, 1, num_experts);
  // Partial selection over indices; ties go to the lower index.
  std::vector<int32_t> order(num_experts);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return probs[a] != probs[b] ? probs[a] > probs[b] : a < b;
  });
  float sum = 0;
  for (int i = 0; i < k; ++i) sum += probs[order[i]];
  for (int i = 0; i < k; ++i) {
    experts[i] = order[i];
    weights[i] = normalize ? probs[order[i]] / sum : probs[order[i]];
  }
  return k;
}

void MoeDecoder::PredictNext(int layer, const float* x) {
  const int next = layer + 1;
  if (!prefetch_ || next >= static_cast<int>(layers_.size()) || !layers_[next].moe) return;
  const DecoderConfig& c = config_;
  const int64_t hid = c.hidden_size, e_count = c.num_experts;
  std::vector<float> normed(hid), probs(e_count);
  ops::RmsNorm(x, layers_[next].post_norm.ptr(), hid, c.rms_norm_eps, normed.data());
  ops::MatMulBf16(normed.data(), 1, hid, layers_[next].router.ptr(), e_count, probs.data(),
                  nullptr);
  ops::Softmax(probs.data(), e_count);
  std::vector<int32_t> chosen(e_count);
  std::vector<float> weights(e_count);
  const int k =
      SelectTopK(probs.data(), static_cast<int>(e_count), static_cast<int>(c.num_experts_per_tok),
                 false, chosen.data(), weights.data());
  experts_->Prefetch(next, chosen.data(), k);
}

Status MoeDecoder::Moe(const Layer& w, int layer, int64_t start, const float* h, int64_t n,
                       float* out, ThreadPool* pool) {
  const DecoderConfig& c = config_;
  const int64_t hid = c.hidden_size, e_count = c.num_experts, inter = c.moe_intermediate_size;
  const int k = static_cast<int>(c.num_experts_per_tok);
  std::vector<float> probs(n * e_count);
  ops::MatMulBf16(h, n, hid, w.router.ptr(), e_count, probs.data(), pool);
  // Route every token: softmax over all experts, then the exact top-k or the selector's choice.
  struct Use {
    int64_t token;
    int slot;  // position in the token's chosen list
    float weight;
  };
  std::vector<std::vector<Use>> by_expert(e_count);
  std::vector<int32_t> chosen(e_count);
  std::vector<float> weights(e_count);
  std::vector<int> chosen_count(n);
  int max_chosen = 0;
  for (int64_t t = 0; t < n; ++t) {
    float* p = probs.data() + t * e_count;
    ops::Softmax(p, e_count);
    const int m = selector_ != nullptr
                      ? selector_->Select(layer, start + t, p, static_cast<int>(e_count), k,
                                          c.norm_topk_prob, chosen.data(), weights.data())
                      : SelectTopK(p, static_cast<int>(e_count), k, c.norm_topk_prob, chosen.data(),
                                   weights.data());
    for (int i = 0; i < m; ++i) by_expert[chosen[i]].push_back({t, i, weights[i]});
    chosen_count[t] = m;
    max_chosen = std::max(max_chosen, m);
    if (observer_) observer_({layer, t, start + t, p, chosen.data(), weights.data(), m});
  }
  // Experts run in index order, which fixes the summation order of the output: any residency
  // (budget, policy, prefetch) gives the same bits. Up to `window` of them are expected ahead so
  // their loads overlap the computation of the ones before.
  std::vector<int> used;
  for (int64_t e = 0; e < e_count; ++e) {
    if (!by_expert[e].empty()) used.push_back(static_cast<int>(e));
  }
  const size_t window =
      std::min(used.size(), static_cast<size_t>(std::max(1, experts_->max_held())));
  for (size_t i = 0; i < window; ++i) experts_->Expect(layer, used[i]);
  std::vector<float> outputs;  // [n, max_chosen, hid] when contributions are observed
  if (contribution_observer_) outputs.assign(n * max_chosen * hid, 0.0f);
  std::fill_n(out, n * hid, 0.0f);
  std::vector<float> xs, gate, up, down;
  for (size_t i = 0; i < used.size(); ++i) {
    const int e = used[i];
    const auto& rows = by_expert[e];
    const int64_t m = static_cast<int64_t>(rows.size());
    auto ew = experts_->Acquire(layer, e);
    if (!ew.ok()) {
      for (size_t j = i + 1; j < std::min(used.size(), i + window); ++j) {
        experts_->Release(layer, used[j]);  // cancels the Expect
      }
      return ew.status();
    }
    xs.resize(m * hid);
    gate.resize(m * inter);
    up.resize(m * inter);
    down.resize(m * hid);
    for (int64_t r = 0; r < m; ++r) std::copy_n(h + rows[r].token * hid, hid, xs.data() + r * hid);
    ops::MatMulBf16(xs.data(), m, hid, ew->gate, inter, gate.data(), pool);
    ops::MatMulBf16(xs.data(), m, hid, ew->up, inter, up.data(), pool);
    ops::SwiGlu(gate.data(), up.data(), m * inter, gate.data());
    ops::MatMulBf16(gate.data(), m, inter, ew->down, hid, down.data(), pool);
    experts_->Release(layer, e);
    if (i + window < used.size()) experts_->Expect(layer, used[i + window]);
    for (int64_t r = 0; r < m; ++r) {
      ops::Axpy(rows[r].weight, down.data() + r * hid, hid, out + rows[r].token * hid);
      if (!outputs.empty()) {
        std::copy_n(down.data() + r * hid, hid,
                    outputs.data() + (rows[r].token * max_chosen + rows[r].slot) * hid);
      }
    }
  }
  if (contribution_observer_) {
    for (int e : used) {
      for (const Use& u : by_expert[e]) {
        contribution_observer_({layer, start + u.token, e, u.weight,
                                outputs.data() + (u.token * max_chosen + u.slot) * hid,
                                out + u.token * hid, hid});
      }
    }
  }
  return Status::Ok();
}

void MoeDecoder::DenseMlp(const Layer& w, const float* h, int64_t n, float* out, ThreadPool* pool) {
  const int64_t hid = config_.hidden_size, inter = config_.intermediate_size;
  std::vector<float> gate(n * inter), up(n * inter);
  ops::MatMulBf16(h, n, hid, w.mlp_gate.ptr(), inter, gate.data(), pool);
  ops::MatMulBf16(h, n, hid, w.mlp_up.ptr(), inter, up.data(), pool);
  ops::SwiGlu(gate.data(), up.data(), n * inter, gate.data());
  ops::MatMulBf16(gate.data(), n, inter, w.mlp_down.ptr(), hid, out, pool);
}

}  // namespace omnisage

#include "model/decoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ops/ops.h"
#include "ops/quant.h"
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
    auto load_linear = [&](LinearWeight* dst, const std::string& name,
                           std::vector<int64_t> shape) -> Status {
      OMNI_ASSIGN_OR_RETURN(*dst, LoadLinear(source, name, shape));
      return Status::Ok();
    };
    OMNI_RETURN_IF_ERROR(load(&w.input_norm, n.input_norm, {h}));
    OMNI_RETURN_IF_ERROR(load_linear(&w.q_proj, n.q_proj, {q_dim, h}));
    OMNI_RETURN_IF_ERROR(load_linear(&w.k_proj, n.k_proj, {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load_linear(&w.v_proj, n.v_proj, {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load_linear(&w.o_proj, n.o_proj, {h, q_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.q_norm, n.q_norm, {c.head_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.k_norm, n.k_norm, {c.head_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.post_norm, n.post_norm, {h}));
    w.moe = c.IsMoeLayer(l);
    if (w.moe) {
      if (experts == nullptr) return Internal("MoeDecoder::Load: no ExpertProvider");
      OMNI_RETURN_IF_ERROR(load(&w.router, n.router, {c.num_experts, h}));
      w.shared = c.shared_expert_intermediate_size > 0;
      if (w.shared) {
        const int64_t si = c.shared_expert_intermediate_size;
        OMNI_RETURN_IF_ERROR(load_linear(&w.shared_gate, n.shared_gate, {si, h}));
        OMNI_RETURN_IF_ERROR(load_linear(&w.shared_up, n.shared_up, {si, h}));
        OMNI_RETURN_IF_ERROR(load_linear(&w.shared_down, n.shared_down, {h, si}));
        OMNI_RETURN_IF_ERROR(load(&w.shared_expert_gate, n.shared_expert_gate, {1, h}));
      }
    } else {
      OMNI_RETURN_IF_ERROR(load_linear(&w.mlp_gate, n.mlp_gate, {c.intermediate_size, h}));
      OMNI_RETURN_IF_ERROR(load_linear(&w.mlp_up, n.mlp_up, {c.intermediate_size, h}));
      OMNI_RETURN_IF_ERROR(load_linear(&w.mlp_down, n.mlp_down, {h, c.intermediate_size}));
    }
  }
  return d;
}

namespace {

// y[t] = RMSNorm(x[t]) for each of the n rows.
void RmsNormRows(const float* x, int64_t n, int64_t hidden, const Bf16Tensor& weight, float eps,
                 float* y) {
  for (int64_t t = 0; t < n; ++t)
    ops::RmsNorm(x + t * hidden, weight.ptr(), hidden, eps, y + t * hidden);
}

// x += delta over count values.
void AddInPlace(const float* delta, int64_t count, float* x) {
  for (int64_t i = 0; i < count; ++i) x[i] += delta[i];
}

}  // namespace

int MoeDecoder::MaxExpertsPerToken() const {
  const int k = static_cast<int>(config_.num_experts_per_tok);
  return selector_ != nullptr ? selector_->MaxExperts(k, static_cast<int>(config_.num_experts)) : k;
}

void MoeDecoder::Reserve(int64_t max_tokens, int64_t context, int workers) {
  act_.Reserve(config_, max_tokens, context, MaxExpertsPerToken(), workers,
               /*contributions=*/contribution_observer_ != nullptr);
}

Status MoeDecoder::Forward(float* x, int64_t n, KvCache* cache, ThreadPool* pool,
                           const float* positions, const DeepstackInputs* deepstack) {
  const int64_t start = cache->length();
  if (start + n > cache->capacity()) {
    return OutOfRange(fmt::format("context of {} tokens exceeds the KV cache capacity {}",
                                  start + n, cache->capacity()));
  }
  row_caches_.assign(n, cache);
  row_slots_.resize(n);
  for (int64_t t = 0; t < n; ++t) row_slots_[t] = start + t;
  batch_ = false;
  OMNI_RETURN_IF_ERROR(Run(x, n, cache->capacity(), pool, positions, deepstack));
  cache->set_length(start + n);
  return Status::Ok();
}

Status MoeDecoder::ForwardBatch(float* x, int64_t n, KvCache* const* caches, ThreadPool* pool,
                                const float* positions) {
  int64_t context = 0;
  row_caches_.assign(caches, caches + n);
  row_slots_.resize(n);
  for (int64_t t = 0; t < n; ++t) {
    KvCache* cache = caches[t];
    if (cache->length() + 1 > cache->capacity()) {
      return OutOfRange(fmt::format("context of {} tokens exceeds the KV cache capacity {}",
                                    cache->length() + 1, cache->capacity()));
    }
    for (int64_t u = 0; u < t; ++u) {
      if (caches[u] == cache) return InvalidArgument("ForwardBatch: a sequence appears twice");
    }
    row_slots_[t] = cache->length();
    context = std::max(context, cache->capacity());
  }
  batch_ = true;
  const Status s = Run(x, n, context, pool, positions);
  batch_ = false;
  OMNI_RETURN_IF_ERROR(s);
  for (int64_t t = 0; t < n; ++t) caches[t]->set_length(row_slots_[t] + 1);
  return Status::Ok();
}

void MoeDecoder::MatMul(const float* x, int64_t n, int64_t in, const QuantMatrix& w, int64_t out,
                        float* y, ThreadPool* pool) const {
  if (w.format == WeightFormat::kBf16) {
    return MatMul(x, n, in, static_cast<const uint16_t*>(w.q), out, y, pool);
  }
  // Every row of a quantized product is summed alone, whatever the batch (tested).
  ops::MatMulQuant(x, n, in, w, out, y, pool);
}

void MoeDecoder::MatMul(const float* x, int64_t n, int64_t in, const uint16_t* w, int64_t out,
                        float* y, ThreadPool* pool) const {
  if (!batch_) return ops::MatMulBf16(x, n, in, w, out, y, pool);
  // Each row alone: the kernel sums a row of a 4-row tile in another order than a row by
  // itself, and a sequence must get the same bits in a batch as alone.
  for (int64_t t = 0; t < n; ++t) ops::MatMulBf16(x + t * in, 1, in, w, out, y + t * out, pool);
}

Status MoeDecoder::Run(float* x, int64_t n, int64_t context, ThreadPool* pool,
                       const float* positions, const DeepstackInputs* deepstack) {
  const int64_t hidden = config_.hidden_size;
  const float eps = config_.rms_norm_eps;
  Reserve(n, context, pool != nullptr ? pool->num_threads() : 1);
  float* normed = act_.normed.data();
  float* delta = act_.delta.data();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& w = layers_[l];
    const int layer = static_cast<int>(l);
    RmsNormRows(x, n, hidden, w.input_norm, eps, normed);  // normed = RMSNorm(x)
    Attention(w, layer, n, positions, pool);               // delta = o_proj(attention(normed))
    AddInPlace(delta, n * hidden, x);                      // x += delta
    RmsNormRows(x, n, hidden, w.post_norm, eps, normed);   // normed = RMSNorm(x)
    if (w.moe) {
      if (n == 1) PredictNext(layer, x);          // prefetch layer + 1's likely experts
      const int used = Route(w, layer, n, pool);  // top-k experts per token
      OMNI_RETURN_IF_ERROR(RunExperts(layer, n, used, pool));  // delta = Σ w · expert(normed)
      if (w.shared) SharedExpert(w, n, pool);  // delta += σ(g·normed) · shared(normed)
    } else {
      DenseMlp(w, n, pool);  // delta = SwiGLU MLP(normed)
    }
    AddInPlace(delta, n * hidden, x);  // x += delta
    if (hidden_observer_ && layer + 1 == hidden_layers_ && !batch_) {
      hidden_observer_(x, n, row_slots_[0]);
    }
    if (deepstack != nullptr && layer < deepstack->levels) {
      AddDeepstack(*deepstack, layer, x);  // x[visual] += deepstack[layer]
    }
  }
  return Status::Ok();
}

void MoeDecoder::AddDeepstack(const DeepstackInputs& d, int level, float* x) const {
  const int64_t hidden = config_.hidden_size;
  const float* features = d.features + level * d.count * hidden;
  for (int64_t i = 0; i < d.count; ++i) {
    AddInPlace(features + i * hidden, hidden, x + d.rows[i] * hidden);
  }
}

void MoeDecoder::Attention(const Layer& w, int layer, int64_t n, const float* positions,
                           ThreadPool* pool) {
  const DecoderConfig& c = config_;
  const int64_t head_dim = c.head_dim, heads = c.num_heads, kv_heads = c.num_kv_heads;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
  float* q = act_.q.data();
  float* k = act_.k.data();
  float* v = act_.v.data();
  float* cos = act_.rope_cos.data();
  float* sin = act_.rope_sin.data();
  // q, k, v: [n, q_dim], [n, kv_dim], [n, kv_dim].
  MatMul(act_.normed.data(), n, c.hidden_size, w.q_proj.matrix(), q_dim, q, pool);
  MatMul(act_.normed.data(), n, c.hidden_size, w.k_proj.matrix(), kv_dim, k, pool);
  MatMul(act_.normed.data(), n, c.hidden_size, w.v_proj.matrix(), kv_dim, v, pool);
  // Per-head q/k RMSNorm, then RoPE (the norm comes first, as in the reference); k and v join
  // the cache.
  for (int64_t t = 0; t < n; ++t) {
    KvCache* cache = row_caches_[t];
    const int64_t slot = row_slots_[t];
    if (positions != nullptr) {
      rope_.Angles(positions[3 * t], positions[3 * t + 1], positions[3 * t + 2], cos, sin);
    } else {
      rope_.Angles(slot, cos, sin);
    }
    for (int64_t i = 0; i < heads; ++i) {
      float* qh = q + t * q_dim + i * head_dim;
      ops::RmsNorm(qh, w.q_norm.ptr(), head_dim, c.rms_norm_eps, qh);
      ops::RopeRotateHalf(qh, head_dim, cos, sin);
    }
    for (int64_t i = 0; i < kv_heads; ++i) {
      float* kh = k + t * kv_dim + i * head_dim;
      ops::RmsNorm(kh, w.k_norm.ptr(), head_dim, c.rms_norm_eps, kh);
      ops::RopeRotateHalf(kh, head_dim, cos, sin);
    }
    std::copy_n(k + t * kv_dim, kv_dim, cache->k(layer, slot));
    std::copy_n(v + t * kv_dim, kv_dim, cache->v(layer, slot));
  }
  // Causal attention: each (token, head) job is independent; worker `wid` takes a contiguous
  // share of the jobs and its own row of scores.
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t group = heads / kv_heads, jobs = n * heads, workers = act_.workers;
  auto attend = [&](int64_t worker_begin, int64_t worker_end) {
    for (int64_t wid = worker_begin; wid < worker_end; ++wid) {
      float* scores = act_.scores.data() + wid * act_.context;
      for (int64_t job = jobs * wid / workers; job < jobs * (wid + 1) / workers; ++job) {
        const int64_t t = job / heads, head = job % heads, kv_head = head / group;
        KvCache* cache = row_caches_[t];
        const int64_t len = row_slots_[t] + 1;
        const float* qh = q + t * q_dim + head * head_dim;
        for (int64_t j = 0; j < len; ++j) {
          scores[j] = ops::Dot(qh, cache->k(layer, j) + kv_head * head_dim, head_dim) * scale;
        }
        ops::Softmax(scores, len);
        float* o = act_.attn.data() + t * q_dim + head * head_dim;
        std::fill_n(o, head_dim, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
          ops::Axpy(scores[j], cache->v(layer, j) + kv_head * head_dim, head_dim, o);
        }
      }
    }
  };
  if (pool != nullptr && workers > 1) {
    pool->ParallelFor(workers, attend);
  } else {
    attend(0, workers);
  }
  MatMul(act_.attn.data(), n, q_dim, w.o_proj.matrix(), c.hidden_size, act_.delta.data(), pool);
}

int SelectTopK(const float* probs, int num_experts, int k, bool normalize, int32_t* experts,
               float* weights) {
  k = std::clamp(k, 1, num_experts);
  // k passes, each taking the largest expert ordered after the previous pick in (probability
  // descending, index ascending) order: ties go to the lower index, and nothing is allocated.
  auto before = [probs](int a, int b) {
    return probs[a] != probs[b] ? probs[a] > probs[b] : a < b;
  };
  float sum = 0;
  for (int i = 0; i < k; ++i) {
    int best = -1;
    for (int e = 0; e < num_experts; ++e) {
      if (i > 0 && !before(experts[i - 1], e)) continue;
      if (best < 0 || before(e, best)) best = e;
    }
    experts[i] = best;
    sum += probs[best];
  }
  for (int i = 0; i < k; ++i) weights[i] = normalize ? probs[experts[i]] / sum : probs[experts[i]];
  return k;
}

void MoeDecoder::PredictNext(int layer, const float* x) {
  const int next = layer + 1;
  if (!prefetch_ || next >= static_cast<int>(layers_.size()) || !layers_[next].moe) return;
  const DecoderConfig& c = config_;
  const int experts = static_cast<int>(c.num_experts);
  float* normed = act_.predict_normed.data();
  float* probs = act_.predict_probs.data();
  ops::RmsNorm(x, layers_[next].post_norm.ptr(), c.hidden_size, c.rms_norm_eps, normed);
  ops::MatMulBf16(normed, 1, c.hidden_size, layers_[next].router.ptr(), experts, probs,
                  /*pool=*/nullptr);
  ops::Softmax(probs, experts);
  const int k =
      SelectTopK(probs, experts, static_cast<int>(c.num_experts_per_tok),
                 /*normalize=*/false, act_.predict_experts.data(), act_.predict_weights.data());
  experts_->Prefetch(next, act_.predict_experts.data(), k);
}

int MoeDecoder::Route(const Layer& w, int layer, int64_t n, ThreadPool* pool) {
  const DecoderConfig& c = config_;
  const int experts = static_cast<int>(c.num_experts), k = static_cast<int>(c.num_experts_per_tok);
  const int max_k = act_.max_k;
  float* probs = act_.router_probs.data();  // [n, experts]
  MatMul(act_.normed.data(), n, c.hidden_size, w.router.ptr(), experts, probs, pool);
  int32_t* begin = act_.uses_begin.data();
  std::fill_n(begin, experts + 1, 0);
  for (int64_t t = 0; t < n; ++t) {
    float* p = probs + t * experts;
    int32_t* chosen = act_.chosen.data() + t * max_k;
    float* weights = act_.chosen_weights.data() + t * max_k;
    ops::Softmax(p, experts);
    const int m = selector_ != nullptr
                      ? selector_->Select(layer, row_slots_[t], p, experts, k, c.norm_topk_prob,
                                          chosen, weights)
                      : SelectTopK(p, experts, k, c.norm_topk_prob, chosen, weights);
    act_.chosen_count[t] = m;
    for (int i = 0; i < m; ++i) ++begin[chosen[i] + 1];
    if (observer_) observer_({layer, t, row_slots_[t], p, chosen, weights, m});
  }
  // Group the uses by expert (a counting sort, stable in token order).
  int used = 0;
  for (int e = 0; e < experts; ++e) {
    if (begin[e + 1] > 0) act_.used_experts[used++] = e;
    begin[e + 1] += begin[e];
  }
  int32_t* fill = act_.uses_fill.data();
  std::copy_n(begin, experts, fill);
  for (int64_t t = 0; t < n; ++t) {
    const int32_t* chosen = act_.chosen.data() + t * max_k;
    const float* weights = act_.chosen_weights.data() + t * max_k;
    for (int i = 0; i < act_.chosen_count[t]; ++i) {
      act_.uses[fill[chosen[i]]++] = {static_cast<int32_t>(t), i, weights[i]};
    }
  }
  return used;
}

Status MoeDecoder::RunExperts(int layer, int64_t n, int used, ThreadPool* pool) {
  const int64_t hidden = config_.hidden_size;
  const int32_t* order = act_.used_experts.data();
  const int32_t* begin = act_.uses_begin.data();
  float* delta = act_.delta.data();
  const bool keep_slots = contribution_observer_ != nullptr;
  // Experts run in index order, which fixes the summation order of the output: any residency
  // (budget, policy, prefetch) gives the same bits. Up to `window` of them are expected ahead so
  // their loads overlap the computation of the ones before.
  const int window = std::min(used, std::max(1, experts_->max_held()));
  for (int i = 0; i < window; ++i) experts_->Expect(layer, order[i]);
  std::fill_n(delta, n * hidden, 0.0f);
  for (int i = 0; i < used; ++i) {
    const int e = order[i];
    const ExpertUse* uses = act_.uses.data() + begin[e];
    const int64_t m = begin[e + 1] - begin[e];
    auto weights = experts_->Acquire(layer, e);
    if (!weights.ok()) {
      // Experts i + 1 .. i + window − 1 are expected and not yet acquired: cancel them.
      for (int j = i + 1; j < std::min(used, i + window); ++j) experts_->Release(layer, order[j]);
      return weights.status();
    }
    for (int64_t r = 0; r < m; ++r) {  // gather the rows routed to e
      std::copy_n(act_.normed.data() + uses[r].token * hidden, hidden,
                  act_.expert_in.data() + r * hidden);
    }
    RunExpert(*weights, m, pool);
    experts_->Release(layer, e);
    if (i + window < used) experts_->Expect(layer, order[i + window]);
    for (int64_t r = 0; r < m; ++r) {  // delta[token] += weight · expert(token)
      const float* y = act_.expert_out.data() + r * hidden;
      ops::Axpy(uses[r].weight, y, hidden, delta + uses[r].token * hidden);
      if (keep_slots) {
        std::copy_n(
            y, hidden,
            act_.slot_outputs.data() + (uses[r].token * act_.max_k + uses[r].slot) * hidden);
      }
    }
  }
  if (keep_slots) ReportContributions(layer, used);
  return Status::Ok();
}

void MoeDecoder::RunExpert(const ExpertWeights& w, int64_t m, ThreadPool* pool) {
  const int64_t hidden = config_.hidden_size, inter = config_.moe_intermediate_size;
  float* gate = act_.expert_gate.data();  // [m, inter]
  float* up = act_.expert_up.data();      // [m, inter]
  MatMul(act_.expert_in.data(), m, hidden, w.gate, inter, gate, pool);
  MatMul(act_.expert_in.data(), m, hidden, w.up, inter, up, pool);
  ops::SwiGlu(gate, up, m * inter, gate);
  MatMul(gate, m, inter, w.down, hidden, act_.expert_out.data(), pool);
}

void MoeDecoder::ReportContributions(int layer, int used) {
  const int64_t hidden = config_.hidden_size;
  for (int i = 0; i < used; ++i) {
    const int e = act_.used_experts[i];
    for (int32_t u = act_.uses_begin[e]; u < act_.uses_begin[e + 1]; ++u) {
      const ExpertUse& use = act_.uses[u];
      contribution_observer_(
          {layer, row_slots_[use.token], e, use.weight,
           act_.slot_outputs.data() + (use.token * act_.max_k + use.slot) * hidden,
           act_.delta.data() + use.token * hidden, hidden});
    }
  }
}

void MoeDecoder::DenseMlp(const Layer& w, int64_t n, ThreadPool* pool) {
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  float* gate = act_.mlp_gate.data();  // [n, inter]
  float* up = act_.mlp_up.data();      // [n, inter]
  MatMul(act_.normed.data(), n, hidden, w.mlp_gate.matrix(), inter, gate, pool);
  MatMul(act_.normed.data(), n, hidden, w.mlp_up.matrix(), inter, up, pool);
  ops::SwiGlu(gate, up, n * inter, gate);
  MatMul(gate, n, inter, w.mlp_down.matrix(), hidden, act_.delta.data(), pool);
}

void MoeDecoder::SharedExpert(const Layer& w, int64_t n, ThreadPool* pool) {
  const int64_t hidden = config_.hidden_size, inter = config_.shared_expert_intermediate_size;
  float* gate = act_.shared_gate.data();    // [n, shared_inter]
  float* up = act_.shared_up.data();        // [n, shared_inter]
  float* out = act_.shared_out.data();      // [n, hidden]
  float* score = act_.shared_score.data();  // [n]
  MatMul(act_.normed.data(), n, hidden, w.shared_gate.matrix(), inter, gate, pool);
  MatMul(act_.normed.data(), n, hidden, w.shared_up.matrix(), inter, up, pool);
  ops::SwiGlu(gate, up, n * inter, gate);
  MatMul(gate, n, inter, w.shared_down.matrix(), hidden, out, pool);
  MatMul(act_.normed.data(), n, hidden, w.shared_expert_gate.ptr(), 1, score, pool);
  for (int64_t t = 0; t < n; ++t) {
    const float g = 1.0f / (1.0f + std::exp(-score[t]));
    ops::Axpy(g, out + t * hidden, hidden, act_.delta.data() + t * hidden);
  }
}

}  // namespace omnisage

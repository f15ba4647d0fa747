#include "speech/talker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "model/tensor_table.h"
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {

StatusOr<std::unique_ptr<Talker>> Talker::Load(const WeightSource& source,
                                               const ModelConfig& config, ExpertProvider* experts) {
  if (config.arch != Arch::kQwen3OmniMoe || !config.has_talker) {
    return InvalidArgument(
        fmt::format("{}: model_type {} has no talker (speech output needs qwen3_omni_moe with "
                    "enable_audio_output)",
                    source.path(), config.model_type));
  }
  std::unique_ptr<Talker> t(new Talker());
  t->config_ = config.talker;
  const DecoderConfig& c = config.talker.text;
  const DecoderStackNames names = StackNames(config, Component::kTalker);
  if (experts == nullptr) {
    OMNI_ASSIGN_OR_RETURN(t->owned_experts_, ResidentExperts::Load(source, names.prefix, c));
    experts = t->owned_experts_.get();
  }
  t->experts_ = experts;
  OMNI_ASSIGN_OR_RETURN(t->decoder_, MoeDecoder::Load(source, c, names.prefix, experts));
  OMNI_ASSIGN_OR_RETURN(t->embed_, LoadBf16(source, names.embed, {c.vocab_size, c.hidden_size}));
  OMNI_ASSIGN_OR_RETURN(t->norm_, LoadBf16(source, names.norm, {c.hidden_size}));
  OMNI_ASSIGN_OR_RETURN(t->head_, LoadBf16(source, names.head, {c.vocab_size, c.hidden_size}));
  const int64_t in = config.talker.thinker_hidden_size, mid = c.intermediate_size;
  auto projection = [&](Projection* p, const std::string& prefix) -> Status {
    OMNI_ASSIGN_OR_RETURN(p->fc1, LoadBf16(source, prefix + "linear_fc1.weight", {mid, in}));
    OMNI_ASSIGN_OR_RETURN(p->fc1_bias, LoadBf16(source, prefix + "linear_fc1.bias", {mid}));
    OMNI_ASSIGN_OR_RETURN(p->fc2,
                          LoadBf16(source, prefix + "linear_fc2.weight", {c.hidden_size, mid}));
    OMNI_ASSIGN_OR_RETURN(p->fc2_bias,
                          LoadBf16(source, prefix + "linear_fc2.bias", {c.hidden_size}));
    return Status::Ok();
  };
  OMNI_RETURN_IF_ERROR(projection(&t->text_projection_, "talker.text_projection."));
  OMNI_RETURN_IF_ERROR(projection(&t->hidden_projection_, "talker.hidden_projection."));
  return t;
}

void Talker::TextProjection(const float* x, int64_t n, float* out, ThreadPool* pool) {
  Project(text_projection_, x, n, out, pool);
}

void Talker::HiddenProjection(const float* x, int64_t n, float* out, ThreadPool* pool) {
  Project(hidden_projection_, x, n, out, pool);
}

void Talker::Project(const Projection& p, const float* x, int64_t n, float* out, ThreadPool* pool) {
  const int64_t in = config_.thinker_hidden_size, mid = config_.text.intermediate_size,
                h = hidden_size();
  if (static_cast<int64_t>(project_.size()) < n * mid) {
    project_.resize(n * mid);
    project_charge_ = LedgerCharge(MemoryKind::kActivations, project_.size() * sizeof(float));
  }
  float* m = project_.data();
  ops::MatMulBf16(x, n, in, p.fc1.ptr(), mid, m, pool);
  for (int64_t r = 0; r < n; ++r) {
    float* row = m + r * mid;
    for (int64_t i = 0; i < mid; ++i) {
      const float v = row[i] + Bf16ToFloat(p.fc1_bias.data[i]);
      row[i] = v / (1.0f + std::exp(-v));  // silu
    }
  }
  ops::MatMulBf16(m, n, mid, p.fc2.ptr(), h, out, pool);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < h; ++i) out[r * h + i] += Bf16ToFloat(p.fc2_bias.data[i]);
  }
}

void Talker::AddCodecEmbedding(int64_t id, float* out) const {
  const int64_t h = hidden_size();
  const uint16_t* row = embed_.ptr() + id * h;
  for (int64_t i = 0; i < h; ++i) out[i] += Bf16ToFloat(row[i]);
}

Status Talker::Forward(const float* embeds, int64_t n, KvCache* cache, float* hidden, float* logits,
                       ThreadPool* pool, const float* positions) {
  if (n <= 0) return InvalidArgument("talker: no inputs");
  const int64_t h = hidden_size();
  decoder_->Reserve(n, cache->capacity(), pool != nullptr ? pool->num_threads() : 1);
  float* x = decoder_->activations().x.data();  // [n, hidden]
  std::copy_n(embeds, n * h, x);
  OMNI_RETURN_IF_ERROR(decoder_->Forward(x, n, cache, pool, positions));
  ops::RmsNorm(x + (n - 1) * h, norm_.ptr(), h, static_cast<float>(config_.text.rms_norm_eps),
               hidden);
  ops::MatMulBf16(hidden, 1, h, head_.ptr(), vocab_size(), logits, pool);
  return Status::Ok();
}

}  // namespace omnisage

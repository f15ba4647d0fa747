#include "model/text_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "ops/ops.h"
#include "util/thread_pool.h"

namespace omnisage {

StatusOr<std::unique_ptr<TextModel>> TextModel::Load(const WeightSource& source,
                                                     const ModelConfig& config,
                                                     ExpertProvider* experts, bool verify_experts,
                                                     bool embeddings_on_disk) {
  std::unique_ptr<TextModel> m(new TextModel());
  const Component component =
      config.arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  const DecoderStackNames names = StackNames(config, component);
  const DecoderConfig& c = config.text;
  if (experts == nullptr) {
    OMNI_ASSIGN_OR_RETURN(m->owned_experts_,
                          ResidentExperts::Load(source, names.prefix, c, verify_experts));
    experts = m->owned_experts_.get();
  }
  m->experts_ = experts;
  OMNI_ASSIGN_OR_RETURN(m->decoder_, MoeDecoder::Load(source, c, names.prefix, experts));
  m->tied_ = names.head.empty();
  if (embeddings_on_disk && !m->tied_) {
    OMNI_ASSIGN_OR_RETURN(m->embed_,
                          EmbeddingTable::OnDisk(source, names.embed, c.vocab_size, c.hidden_size));
  } else {
    OMNI_ASSIGN_OR_RETURN(
        m->embed_, EmbeddingTable::LoadResident(source, names.embed, c.vocab_size, c.hidden_size));
  }
  OMNI_ASSIGN_OR_RETURN(m->norm_, LoadBf16(source, names.norm, {c.hidden_size}));
  m->audio_token_ = static_cast<int32_t>(config.tokens.audio_token);
  m->image_token_ = static_cast<int32_t>(config.tokens.image_token);
  m->video_token_ = static_cast<int32_t>(config.tokens.video_token);
  if (!m->tied_) {
    OMNI_ASSIGN_OR_RETURN(m->head_, LoadLinear(source, names.head, {c.vocab_size, c.hidden_size}));
  }
  return m;
}

QuantMatrix TextModel::Head() const {
  if (!tied_) return head_.matrix();
  return QuantMatrix::Of(WeightFormat::kBf16, vocab_size(), config().hidden_size, 0,
                         reinterpret_cast<const uint8_t*>(embed_.tensor().ptr()));
}

Status TextModel::Forward(const int32_t* tokens, int64_t n, KvCache* cache, bool all_positions,
                          float* logits, ThreadPool* pool, const MediaInputs* media) {
  const int64_t hidden = config().hidden_size, vocab = config().vocab_size;
  if (n <= 0) return InvalidArgument("Forward: no tokens");
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab) {
      return InvalidArgument(
          fmt::format("token id {} is outside the vocabulary [0, {})", tokens[t], vocab));
    }
  }
  if (media != nullptr && media->audio != nullptr) {
    const int64_t placeholders = std::count(tokens, tokens + n, audio_token_);
    if (audio_token_ < 0 || placeholders != media->audio_rows) {
      return InvalidArgument(fmt::format(
          "the prompt holds {} audio placeholder tokens but the audio encoder gave {} embeddings",
          placeholders, media->audio_rows));
    }
  }
  const bool visual = media != nullptr && media->visual != nullptr;
  if (visual) {
    visual_rows_.clear();
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = tokens[t];
      if (id >= 0 && (id == image_token_ || id == video_token_)) visual_rows_.push_back(t);
    }
    if (static_cast<int64_t>(visual_rows_.size()) != media->visual_rows) {
      return InvalidArgument(fmt::format(
          "the prompt holds {} image/video placeholder tokens but the vision encoder gave {} "
          "embeddings",
          visual_rows_.size(), media->visual_rows));
    }
  }
  decoder_->Reserve(n, cache->capacity(), pool != nullptr ? pool->num_threads() : 1);
  float* x = decoder_->activations().x.data();  // [n, hidden]
  OMNI_RETURN_IF_ERROR(embed_.Widen(tokens, n, x));
  // Audio embeddings take the placeholders' rows, in order (the reference's masked_scatter).
  if (media != nullptr && media->audio != nullptr) {
    int64_t next = 0;
    for (int64_t t = 0; t < n; ++t) {
      if (tokens[t] != audio_token_) continue;
      std::copy_n(media->audio + next++ * hidden, hidden, x + t * hidden);
    }
  }
  // Visual embeddings take the image and video placeholders' rows, in prompt order.
  DeepstackInputs deepstack;
  if (visual) {
    for (int64_t i = 0; i < media->visual_rows; ++i) {
      std::copy_n(media->visual + i * hidden, hidden, x + visual_rows_[i] * hidden);
    }
    deepstack = {visual_rows_.data(), media->visual_rows, media->deepstack,
                 media->deepstack != nullptr ? media->deepstack_levels : 0};
  }
  OMNI_RETURN_IF_ERROR(decoder_->Forward(x, n, cache, pool,
                                         media != nullptr ? media->positions : nullptr,
                                         visual && deepstack.levels > 0 ? &deepstack : nullptr));
  const int64_t first = all_positions ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) {
    ops::RmsNorm(x + t * hidden, norm_.ptr(), hidden, config().rms_norm_eps, x + t * hidden);
  }
  ops::MatMulQuant(x + first * hidden, n - first, hidden, Head(), vocab, logits, pool);
  return Status::Ok();
}

Status TextModel::ForwardBatch(const int32_t* tokens, int64_t n, KvCache* const* caches,
                               float* logits, ThreadPool* pool, const float* positions) {
  const int64_t hidden = config().hidden_size, vocab = config().vocab_size;
  if (n <= 0) return InvalidArgument("ForwardBatch: no tokens");
  int64_t context = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab) {
      return InvalidArgument(
          fmt::format("token id {} is outside the vocabulary [0, {})", tokens[t], vocab));
    }
    context = std::max(context, caches[t]->capacity());
  }
  decoder_->Reserve(n, context, pool != nullptr ? pool->num_threads() : 1);
  float* x = decoder_->activations().x.data();  // [n, hidden]
  OMNI_RETURN_IF_ERROR(embed_.Widen(tokens, n, x));
  OMNI_RETURN_IF_ERROR(decoder_->ForwardBatch(x, n, caches, pool, positions));
  const QuantMatrix head = Head();
  for (int64_t t = 0; t < n; ++t) {  // row by row, as Forward computes one sequence's last row
    ops::RmsNorm(x + t * hidden, norm_.ptr(), hidden, config().rms_norm_eps, x + t * hidden);
    ops::MatMulQuant(x + t * hidden, 1, hidden, head, vocab, logits + t * vocab, pool);
  }
  return Status::Ok();
}

}  // namespace omnisage

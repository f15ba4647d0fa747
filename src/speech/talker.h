// Talker: the mixture-of-experts decoder that speaks (spec §8.3; transformers'
// Qwen3OmniMoeTalkerForConditionalGeneration without its generate loop, which is
// speech/speech_stream.h). Per step it takes an input embedding (a sum of codec embeddings and
// projected thinker text, built by the caller), runs the 20-layer MoE stack with a shared expert
// (model/decoder.h) and gives codec_head logits over its vocabulary (code 0 of a frame, or
// codec_eos) and the final-normed hidden state the code predictor starts from.
//
// Its routed experts come through an ExpertProvider: under a budget, a CachedExperts sharing the
// thinker's cache (one budget for both stacks, statistics per stack). Dense weights
// (talker.model.*, codec_head, text_projection, hidden_projection) are bf16, charged to the
// ledger. Not thread-safe: one call at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/expert_provider.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

class Talker {
 public:
  // `experts` provides the talker's routed experts and must outlive the talker; null loads them
  // all into memory. Errors name the missing or misshapen tensor.
  static StatusOr<std::unique_ptr<Talker>> Load(const WeightSource& source,
                                                const ModelConfig& config,
                                                ExpertProvider* experts = nullptr);

  const TalkerConfig& config() const { return config_; }
  int64_t hidden_size() const { return config_.text.hidden_size; }
  int64_t vocab_size() const { return config_.text.vocab_size; }

  // text_projection / hidden_projection (fc2(silu(fc1(x)))): rows [n, thinker_hidden] →
  // out [n, hidden].
  void TextProjection(const float* x, int64_t n, float* out, ThreadPool* pool);
  void HiddenProjection(const float* x, int64_t n, float* out, ThreadPool* pool);
  // out[i] += talker.model.codec_embedding[id][i]. REQUIRES: 0 <= id < vocab_size().
  void AddCodecEmbedding(int64_t id, float* out) const;

  KvCache NewCache(int64_t capacity) const { return decoder_->NewCache(capacity); }
  // Runs `n` input embeddings [n, hidden] at cache slots cache->length() …; writes the last
  // row's hidden state after the final norm to `hidden` [hidden] and its codec_head logits to
  // `logits` [vocab]. `positions`: as MoeDecoder::Forward.
  Status Forward(const float* embeds, int64_t n, KvCache* cache, float* hidden, float* logits,
                 ThreadPool* pool, const float* positions = nullptr);

  MoeDecoder& decoder() { return *decoder_; }
  ExpertProvider& experts() { return *experts_; }

 private:
  struct Projection {  // Qwen3OmniMoeTalkerResizeMLP
    Bf16Tensor fc1, fc1_bias, fc2, fc2_bias;
  };
  Talker() = default;
  void Project(const Projection& p, const float* x, int64_t n, float* out, ThreadPool* pool);

  TalkerConfig config_;
  std::unique_ptr<ExpertProvider> owned_experts_;
  ExpertProvider* experts_ = nullptr;
  std::unique_ptr<MoeDecoder> decoder_;
  Bf16Tensor embed_, norm_, head_;
  Projection text_projection_, hidden_projection_;
  std::vector<float> project_;   // [rows, intermediate] the projections' middle
  LedgerCharge project_charge_;  // kActivations
};

}  // namespace omnisage

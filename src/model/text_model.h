// A causal language model over token ids: embedding → MoeDecoder → final RMSNorm → lm_head.
// One class serves plain Qwen3-MoE (`model.*`, `lm_head`) and the Qwen3-Omni thinker's text
// path (`thinker.model.*`, `thinker.lm_head`); media inputs come later.
// Not thread-safe: one Forward at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/expert_provider.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

class TextModel {
 public:
  // Loads the dense weights from `source`. `experts` provides routed experts and must outlive
  // the model; when null, every expert is loaded into memory (ResidentExperts).
  static StatusOr<std::unique_ptr<TextModel>> Load(const WeightSource& source,
                                                   const ModelConfig& config,
                                                   ExpertProvider* experts = nullptr);

  // Runs `n` tokens at positions cache->length() … and appends them to the cache. Writes logits
  // [vocab] of the last token to `logits`, or [n, vocab] of every token when `all_positions`.
  Status Forward(const int32_t* tokens, int64_t n, KvCache* cache, bool all_positions,
                 float* logits, ThreadPool* pool);

  KvCache NewCache(int64_t capacity) const { return decoder_->NewCache(capacity); }
  const DecoderConfig& config() const { return decoder_->config(); }
  int64_t vocab_size() const { return decoder_->config().vocab_size; }
  MoeDecoder& decoder() { return *decoder_; }
  ExpertProvider& experts() { return *experts_; }

 private:
  TextModel() = default;

  std::unique_ptr<ExpertProvider> owned_experts_;
  ExpertProvider* experts_ = nullptr;
  std::unique_ptr<MoeDecoder> decoder_;
  Bf16Tensor embed_, norm_, head_;
  bool tied_ = false;
};

}  // namespace omnisage

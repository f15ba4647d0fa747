// CodePredictor: the residual codebooks of one talker step (spec §8.4, transformers'
// Qwen3OmniMoeTalkerCodePredictorModelForConditionalGeneration driven by generate).
//
// The talker picks code 0 of a frame; this small dense decoder (5 Qwen3 layers in the real model:
// q/k RMSNorm, 1-D RoPE, SwiGLU) picks codes 1 … Q−1, one after another, in a fresh context:
//   prefill [talker hidden (after its final norm), talker.codec_embedding(code 0)] → lm_head[0]
//   → code 1; then input codec_embedding[g − 1](code g) → lm_head[g] → code g + 1.
// The next talker input adds Σ_g codec_embedding[g](code g + 1), which Predict returns too.
//
// Weights (talker.code_predictor.*) are bf16 and charged to the ledger as dense; the KV cache
// (Q positions) and the activations are charged too. Not thread-safe: one Predict at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

// Chooses a token from `logits` [vocab] (which it may modify): greedy, or a sampler's draw.
using TokenChooser = std::function<int32_t(float* logits, int64_t vocab)>;

class CodePredictor {
 public:
  static StatusOr<std::unique_ptr<CodePredictor>> Load(const WeightSource& source,
                                                       const TalkerConfig& config);

  // Codes 1 … Q−1 of one frame into codes[0 … Q−2]. `talker_hidden` [hidden]: the talker's last
  // hidden state after its final norm; `code0_embedding` [hidden]: talker.codec_embedding row of
  // code 0. Adds Σ_g codec_embedding[g](codes[g]) to `embedding_sum` [hidden]. `logits` (may be
  // null): [Q − 1, vocab], each step's logits before `choose` sees them.
  Status Predict(const float* talker_hidden, const float* code0_embedding,
                 const TokenChooser& choose, int32_t* codes, float* embedding_sum, ThreadPool* pool,
                 float* logits = nullptr);

  int64_t num_codes() const { return groups_ - 1; }  // codes per call: Q − 1
  const DecoderConfig& config() const { return decoder_->config(); }

 private:
  CodePredictor() = default;

  int64_t groups_ = 0;
  std::unique_ptr<MoeDecoder> decoder_;
  std::vector<Bf16Tensor> embeddings_, heads_;  // [Q − 1] × [vocab, hidden]
  Bf16Tensor norm_;
  KvCache cache_{0, 0, 0};
  LedgerCharge cache_charge_;           // kKvCache
  std::vector<float> normed_, logits_;  // [hidden], [vocab]
  LedgerCharge scratch_charge_;         // kActivations
};

}  // namespace omnisage

// A causal language model over token ids: embedding → MoeDecoder → final RMSNorm → lm_head.
// One class serves plain Qwen3-MoE (`model.*`, `lm_head`) and the Qwen3-Omni thinker
// (`thinker.model.*`, `thinker.lm_head`), whose prompts may carry media: encoder outputs take the
// place of the placeholder tokens' embeddings, and tokens get per-token (t, h, w) positions.
// Not thread-safe: one Forward at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/embedding_table.h"
#include "model/expert_provider.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

// What a multimodal prompt adds to its token ids (all optional).
struct MediaInputs {
  const float* positions = nullptr;  // [n, 3] rotary (t, h, w) per token; null: the slot index
  const float* audio = nullptr;      // [audio_rows, hidden] audio encoder outputs, replacing the
  int64_t audio_rows = 0;            // embeddings of the audio_token ids, in order (spec §4)
  // Vision encoder outputs for the visual tokens (image_token and video_token ids) in the order
  // they stand in the prompt: `visual` [visual_rows, hidden] replaces their embeddings;
  // `deepstack` [deepstack_levels, visual_rows, hidden] is added to their hidden states after
  // decoder layers 0 … deepstack_levels − 1 (spec §7.3).
  const float* visual = nullptr;
  int64_t visual_rows = 0;
  const float* deepstack = nullptr;
  int deepstack_levels = 0;
};

class TextModel {
 public:
  // Loads the dense weights from `source`. `experts` provides routed experts and must outlive
  // the model; when null, every expert is loaded into memory (ResidentExperts), each checked
  // against its recorded checksum when `verify_experts`. `embeddings_on_disk`: the token
  // embedding's rows are read from `source` when tokens need them (EmbeddingTable), so `source`
  // must outlive the model; a table tied to the lm_head stays resident.
  static StatusOr<std::unique_ptr<TextModel>> Load(const WeightSource& source,
                                                   const ModelConfig& config,
                                                   ExpertProvider* experts = nullptr,
                                                   bool verify_experts = true,
                                                   bool embeddings_on_disk = false);

  // Runs `n` tokens at positions cache->length() … and appends them to the cache. Writes logits
  // [vocab] of the last token to `logits`, or [n, vocab] of every token when `all_positions`.
  // `media` (may be null): positions and encoder outputs; an error if the ids hold a different
  // number of audio tokens than media->audio_rows, or of visual tokens than media->visual_rows
  // (nothing is run).
  Status Forward(const int32_t* tokens, int64_t n, KvCache* cache, bool all_positions,
                 float* logits, ThreadPool* pool, const MediaInputs* media = nullptr);

  // One decode step of n sequences (MoeDecoder::ForwardBatch): tokens[t] is the next token of
  // the sequence whose cache is caches[t]; writes logits [n, vocab], row t the same bits as
  // Forward gives that sequence alone. `positions` [n, 3] or null (the slots).
  Status ForwardBatch(const int32_t* tokens, int64_t n, KvCache* const* caches, float* logits,
                      ThreadPool* pool, const float* positions = nullptr);

  KvCache NewCache(int64_t capacity) const { return decoder_->NewCache(capacity); }
  uint64_t CacheBytes(int64_t capacity) const { return decoder_->CacheBytes(capacity); }
  const DecoderConfig& config() const { return decoder_->config(); }
  int64_t vocab_size() const { return decoder_->config().vocab_size; }
  MoeDecoder& decoder() { return *decoder_; }
  // The token embedding [vocab, hidden] (the talker reads the thinker's, spec §8.2).
  const EmbeddingTable& embedding() const { return embed_; }
  ExpertProvider& experts() { return *experts_; }

 private:
  TextModel() = default;
  // The lm_head: head_, or the embedding table when tied (bf16).
  QuantMatrix Head() const;

  std::unique_ptr<ExpertProvider> owned_experts_;
  ExpertProvider* experts_ = nullptr;
  std::unique_ptr<MoeDecoder> decoder_;
  EmbeddingTable embed_;
  Bf16Tensor norm_;
  LinearWeight head_;  // bf16, or int8 (extract --quant-dense); empty when tied
  bool tied_ = false;
  int32_t audio_token_ = -1;                     // <|audio_pad|> (qwen3_omni_moe), else -1
  int32_t image_token_ = -1, video_token_ = -1;  // <|image_pad|>, <|video_pad|>
  std::vector<int64_t> visual_rows_;             // batch indices of the visual tokens
};

}  // namespace omnisage

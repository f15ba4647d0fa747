// The talker's prompt, built exactly as transformers' Qwen3OmniMoeForConditionalGeneration.generate
// builds it (spec §8.2):
//
//   user part     every token of a user turn (the role after the preceding <|im_start|> is the
//                 user id; system turns and earlier answers are left out): media placeholders
//                 (audio / image / video pad) → hidden_projection(thinker hidden state at
//                 accept_hidden_layer), other tokens → text_projection(thinker embedding)
//   assistant     from the last "<|im_start|> assistant": 9 rows, text stream
//                 [A0 A1 A2 tts_pad×4 tts_bos A3] + codec stream [0 0 0 nothink think_bos
//                 think_eos speaker codec_pad codec_bos] (codec_embedding), where Ai is
//                 text_projection(thinker embedding of the i-th token from there; A3 is the first
//                 generated token when the prompt ends with the generation prompt)
//   trailing      decode step k adds text_projection of token 4 + k from there while the thinker
//                 has fed it, then tts_eos once, then tts_pad (one text token per codec frame)
//
// Thinker tokens count as fed once the thinker ran them: the prompt, and each generated token
// but the last (the stop token, or the one generate ends on).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/config.h"
#include "model/embedding_table.h"
#include "speech/talker.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

struct TalkerPromptLayout {
  std::vector<int64_t> user_positions;  // indices into the thinker's input, in order
  int64_t assistant_start = -1;         // the last <|im_start|> followed by the assistant id
};

// Reads the layout from the thinker's input ids (the conversation through the generation
// prompt). Errors: no "<|im_start|> assistant" pair, or the config lacks the role ids.
StatusOr<TalkerPromptLayout> LayoutTalkerPrompt(const std::vector<int32_t>& input,
                                                const SpecialTokens& tokens);

// The text side of the talker's inputs: thinker embeddings through text_projection, and the
// hidden-state rows of media placeholders through hidden_projection. Not thread-safe.
class TalkerPromptBuilder {
 public:
  // `thinker_embedding` [thinker vocab, thinker hidden] must outlive the builder.
  TalkerPromptBuilder(Talker* talker, const EmbeddingTable* thinker_embedding,
                      const ModelConfig& config)
      : talker_(talker), embedding_(thinker_embedding), config_(config) {}

  // text_projection of the thinker embeddings of `n` ids → out [n, talker hidden]. Errors: a row
  // that cannot be read (embeddings on disk).
  Status ProjectTokens(const int32_t* ids, int64_t n, float* out, ThreadPool* pool);

  // The user part: rows [user_positions, hidden] into `embeds`, their ids into `ids`.
  // `media_row(p)`: the thinker's hidden state at accept_hidden_layer for input position p (a
  // media placeholder); null is an error naming the position.
  Status UserPart(const std::vector<int32_t>& input, const TalkerPromptLayout& layout,
                  const std::function<const float*(int64_t)>& media_row, std::vector<float>* embeds,
                  std::vector<int32_t>* ids, ThreadPool* pool);

  // The 9 assistant rows, appended to `embeds` (and tts_pad ids to `ids`). `fed`: the thinker
  // tokens fed so far; REQUIRES fed.size() >= assistant_start + 4. Errors: a thinker embedding
  // row that cannot be read (embeddings on disk).
  Status AssistantPart(const std::vector<int32_t>& fed, int64_t assistant_start, int64_t speaker_id,
                       std::vector<float>* embeds, std::vector<int32_t>* ids, ThreadPool* pool);

  bool IsMedia(int32_t id) const {
    return id == config_.tokens.audio_token || id == config_.tokens.image_token ||
           id == config_.tokens.video_token;
  }

 private:
  Talker* talker_;
  const EmbeddingTable* embedding_;
  const ModelConfig& config_;
  std::vector<float> rows_;  // thinker embeddings, widened
};

}  // namespace omnisage

#include "speech/talker_prompt.h"

#include <fmt/format.h>

#include <algorithm>

#include "tensor/bf16.h"

namespace omnisage {

StatusOr<TalkerPromptLayout> LayoutTalkerPrompt(const std::vector<int32_t>& input,
                                                const SpecialTokens& t) {
  if (t.im_start < 0 || t.user < 0 || t.assistant < 0) {
    return InvalidArgument(
        "config.json: speech output needs im_start_token_id, user_token_id and "
        "assistant_token_id");
  }
  TalkerPromptLayout layout;
  const int64_t n = static_cast<int64_t>(input.size());
  // As transformers: the role of a position is the token after the latest <|im_start|> at or
  // before it (position 0's when there is none).
  int64_t im_start = 0;
  for (int64_t p = 0; p < n; ++p) {
    if (input[p] == t.im_start) im_start = p;
    if (input[std::min(im_start + 1, n - 1)] == t.user) layout.user_positions.push_back(p);
    if (p + 1 < n && input[p] == t.im_start && input[p + 1] == t.assistant) {
      layout.assistant_start = p;
    }
  }
  if (layout.assistant_start < 0) {
    return InvalidArgument(
        "speech output: the prompt has no '<|im_start|>assistant' turn for the talker to speak");
  }
  return layout;
}

Status TalkerPromptBuilder::ProjectTokens(const int32_t* ids, int64_t n, float* out,
                                          ThreadPool* pool) {
  rows_.resize(n * embedding_->cols());
  OMNI_RETURN_IF_ERROR(embedding_->Widen(ids, n, rows_.data()));
  talker_->TextProjection(rows_.data(), n, out, pool);
  return Status::Ok();
}

Status TalkerPromptBuilder::UserPart(const std::vector<int32_t>& input,
                                     const TalkerPromptLayout& layout,
                                     const std::function<const float*(int64_t)>& media_row,
                                     std::vector<float>* embeds, std::vector<int32_t>* ids,
                                     ThreadPool* pool) {
  const int64_t h = talker_->hidden_size(), in = config_.talker.thinker_hidden_size;
  const int64_t n = static_cast<int64_t>(layout.user_positions.size());
  const size_t base = embeds->size();
  embeds->resize(base + n * h);
  std::vector<int32_t> text;
  std::vector<int64_t> text_rows;
  std::vector<float> media;
  std::vector<int64_t> media_rows;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t p = layout.user_positions[r];
    ids->push_back(input[p]);
    if (IsMedia(input[p])) {
      const float* row = media_row ? media_row(p) : nullptr;
      if (row == nullptr) {
        return Internal(fmt::format(
            "speech output: no thinker hidden state for the media token at position {}", p));
      }
      media.insert(media.end(), row, row + in);
      media_rows.push_back(r);
    } else {
      text.push_back(input[p]);
      text_rows.push_back(r);
    }
  }
  std::vector<float> out(std::max(text.size(), media_rows.size()) * h);
  if (!text.empty()) {
    OMNI_RETURN_IF_ERROR(
        ProjectTokens(text.data(), static_cast<int64_t>(text.size()), out.data(), pool));
    for (size_t i = 0; i < text_rows.size(); ++i) {
      std::copy_n(out.data() + i * h, h, embeds->data() + base + text_rows[i] * h);
    }
  }
  if (!media_rows.empty()) {
    talker_->HiddenProjection(media.data(), static_cast<int64_t>(media_rows.size()), out.data(),
                              pool);
    for (size_t i = 0; i < media_rows.size(); ++i) {
      std::copy_n(out.data() + i * h, h, embeds->data() + base + media_rows[i] * h);
    }
  }
  return Status::Ok();
}

Status TalkerPromptBuilder::AssistantPart(const std::vector<int32_t>& fed, int64_t start,
                                          int64_t speaker_id, std::vector<float>* embeds,
                                          std::vector<int32_t>* ids, ThreadPool* pool) {
  const int64_t h = talker_->hidden_size();
  const SpecialTokens& t = config_.tokens;
  const TalkerConfig& k = config_.talker;
  const int32_t pad = static_cast<int32_t>(t.tts_pad), bos = static_cast<int32_t>(t.tts_bos);
  // Text stream: A0 A1 A2, tts_pad ×4, tts_bos, A3.
  const int32_t text[9] = {fed[start], fed[start + 1], fed[start + 2], pad, pad, pad, pad,
                           bos,        fed[start + 3]};
  const size_t base = embeds->size();
  embeds->resize(base + 9 * h);
  float* rows = embeds->data() + base;
  OMNI_RETURN_IF_ERROR(ProjectTokens(text, 9, rows, pool));
  // Codec stream: nothing for the first three, then the codec specials and the speaker.
  const int64_t codec[6] = {k.codec_nothink_id, k.codec_think_bos_id, k.codec_think_eos_id,
                            speaker_id,         k.codec_pad_id,       k.codec_bos_id};
  for (int i = 0; i < 6; ++i) talker_->AddCodecEmbedding(codec[i], rows + (3 + i) * h);
  ids->insert(ids->end(), 9, pad);
  return Status::Ok();
}

}  // namespace omnisage

#include "speech/speech_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace omnisage {

SpeechStream::SpeechStream(Talker* talker, CodePredictor* predictor, Code2Wav* code2wav,
                           const EmbeddingTable* thinker_embedding, const ModelConfig& config,
                           const SpeechOptions& options, TalkerChooser talker_choose,
                           TokenChooser predictor_choose, AudioSink sink, ThreadPool* pool)
    : talker_(talker),
      predictor_(predictor),
      code2wav_(code2wav),
      prompt_(talker, thinker_embedding, config),
      config_(config),
      options_(options),
      talker_choose_(std::move(talker_choose)),
      predictor_choose_(std::move(predictor_choose)),
      sink_(std::move(sink)),
      pool_(pool),
      wav_stream_(code2wav, options.chunk_frames, options.left_context) {}

Status SpeechStream::Begin(const std::vector<int32_t>& input,
                           const std::function<const float*(int64_t)>& media_row) {
  begin_ = std::chrono::steady_clock::now();
  if (options_.chunk_frames < 1 || options_.max_frames < 1) {
    return InvalidArgument("speech output: the chunk and the frame limit must be >= 1");
  }
  OMNI_ASSIGN_OR_RETURN(TalkerPromptLayout layout, LayoutTalkerPrompt(input, config_.tokens));
  assistant_start_ = layout.assistant_start;
  OMNI_RETURN_IF_ERROR(prompt_.UserPart(input, layout, media_row, &user_part_, &user_ids_, pool_));
  fed_ = input;
  return Status::Ok();
}

Status SpeechStream::OnToken(int32_t id) {
  ++generated_;
  if (has_pending_) fed_.push_back(pending_);
  pending_ = id;
  has_pending_ = true;
  return Advance();
}

Status SpeechStream::Finish(bool stopped) {
  finished_ = true;
  stopped_ = stopped;
  OMNI_RETURN_IF_ERROR(Advance());
  const auto start = std::chrono::steady_clock::now();
  OMNI_RETURN_IF_ERROR(wav_stream_.Finish(&audio_, pool_));
  stats_.code2wav_seconds += SecondsSince(start);
  return Sink();
}

Status SpeechStream::Advance() {
  if (done_) return Status::Ok();
  if (!started_) {
    if (static_cast<int64_t>(fed_.size()) < assistant_start_ + 4) {
      // An answer of no text (the thinker stopped at once) has nothing to speak.
      if (finished_) done_ = true;
      return Status::Ok();
    }
    OMNI_RETURN_IF_ERROR(Prefill());
  }
  const int64_t h = talker_->hidden_size();
  while (true) {
    if (code0_ == config_.talker.codec_eos_token_id) {
      stats_.ended_on_eos = true;
      done_ = true;
      return Status::Ok();
    }
    if (!frame_emitted_) {
      OMNI_RETURN_IF_ERROR(EmitFrame());
      frame_emitted_ = true;
      if (stats_.frames >= options_.max_frames) {
        done_ = true;
        return Status::Ok();
      }
    }
    // The text row of this step, as transformers builds trailing_text_hidden: fed thinker
    // tokens from assistant start + 4, then tts_eos, then tts_pad — where its end-of-text mask
    // puts tts_eos at the index of the thinker's stop token among the generated tokens (the same
    // place when the prompt ends with a 3-token "<|im_start|>assistant\n", earlier otherwise).
    const int64_t fed_text = static_cast<int64_t>(fed_.size()) - (assistant_start_ + 4);
    int32_t text;
    if (!finished_) {
      // Both ends only grow while the thinker writes: text below both is final.
      if (step_ >= std::min(fed_text, generated_ - 1)) return Status::Ok();  // wait
      text = fed_[assistant_start_ + 4 + step_];
    } else {
      const int64_t end = std::min(fed_text, stopped_ ? generated_ - 1 : generated_);
      text = static_cast<int32_t>(step_ < end    ? fed_[assistant_start_ + 4 + step_]
                                  : step_ == end ? config_.tokens.tts_eos
                                                 : config_.tokens.tts_pad);
    }
    text_row_.resize(h);
    OMNI_RETURN_IF_ERROR(prompt_.ProjectTokens(&text, 1, text_row_.data(), pool_));
    for (int64_t i = 0; i < h; ++i) input_[i] += text_row_[i];
    const auto start = std::chrono::steady_clock::now();
    OMNI_RETURN_IF_ERROR(
        talker_->Forward(input_.data(), 1, &cache_, hidden_.data(), logits_.data(), pool_));
    stats_.talker_seconds += SecondsSince(start);
    code0_ = ChooseCode0();
    frame_emitted_ = false;
    ++step_;
  }
}

Status SpeechStream::Prefill() {
  const int64_t h = talker_->hidden_size();
  std::vector<float> embeds = std::move(user_part_);
  std::vector<int32_t> ids = std::move(user_ids_);
  OMNI_RETURN_IF_ERROR(
      prompt_.AssistantPart(fed_, assistant_start_, options_.speaker_id, &embeds, &ids, pool_));
  const int64_t rows = static_cast<int64_t>(ids.size());
  cache_ = talker_->NewCache(rows + options_.max_frames);
  cache_charge_ = LedgerCharge(MemoryKind::kKvCache, cache_.bytes());
  logits_.resize(talker_->vocab_size());
  hidden_.resize(h);
  input_.resize(h);
  const auto start = std::chrono::steady_clock::now();
  OMNI_RETURN_IF_ERROR(
      talker_->Forward(embeds.data(), rows, &cache_, hidden_.data(), logits_.data(), pool_));
  stats_.talker_seconds += SecondsSince(start);
  code0_ = ChooseCode0();
  started_ = true;
  return Status::Ok();
}

int32_t SpeechStream::ChooseCode0() {
  // transformers suppresses the last 1024 ids of the talker's vocabulary but codec_eos.
  const int64_t vocab = talker_->vocab_size();
  for (int64_t id = std::max<int64_t>(0, vocab - 1024); id < vocab; ++id) {
    if (id != config_.talker.codec_eos_token_id) {
      logits_[id] = -std::numeric_limits<float>::infinity();
    }
  }
  const int32_t code = talker_choose_(logits_.data(), vocab, history_);
  history_.push_back(code);
  return code;
}

Status SpeechStream::EmitFrame() {
  std::vector<int32_t> frame(config_.talker.num_code_groups);
  frame[0] = code0_;
  std::fill(input_.begin(), input_.end(), 0.0f);
  talker_->AddCodecEmbedding(code0_, input_.data());
  const std::vector<float> code0_embedding = input_;
  auto start = std::chrono::steady_clock::now();
  OMNI_RETURN_IF_ERROR(predictor_->Predict(hidden_.data(), code0_embedding.data(),
                                           predictor_choose_, frame.data() + 1, input_.data(),
                                           pool_));
  stats_.predictor_seconds += SecondsSince(start);
  codes_.insert(codes_.end(), frame.begin(), frame.end());
  ++stats_.frames;
  start = std::chrono::steady_clock::now();
  OMNI_RETURN_IF_ERROR(wav_stream_.Push(frame.data(), &audio_, pool_));
  stats_.code2wav_seconds += SecondsSince(start);
  return Sink();
}

Status SpeechStream::Sink() {
  if (audio_.empty()) return Status::Ok();
  if (stats_.first_audio_seconds < 0) stats_.first_audio_seconds = SecondsSince(begin_);
  stats_.samples += static_cast<int64_t>(audio_.size());
  const Status s = sink_ ? sink_(audio_.data(), static_cast<int64_t>(audio_.size())) : Status::Ok();
  audio_.clear();
  return s;
}

}  // namespace omnisage

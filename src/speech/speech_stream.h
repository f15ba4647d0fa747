// SpeechStream: speech output while the thinker writes (spec §8; transformers'
// Qwen3OmniMoeForConditionalGeneration.generate with return_audio, made incremental).
//
// The thinker's tokens arrive one by one (OnToken); the talker runs as soon as the text it needs
// is known. Its prompt needs the first answer token (A3), and decode step k needs thinker token
// 4 + k past the assistant start once it is fed — or, when the thinker has finished, tts_eos and
// then tts_pad. So the talker trails the thinker by a token or two, and each frame's codes go to
// code2wav at once: audio leaves in windows of `chunk_frames` frames (Code2WavStream), equal
// sample for sample to transformers' chunked_decode over all the frames with that window.
//
// transformers' end-of-text rule is kept exactly (see Advance), including where it differs from
// "the text, then tts_eos": the tiny preset's 3-piece "assistant" exercises that.
//
// Per talker step: code 0 = choose(codec_head logits with the last 1024 ids but codec_eos
// suppressed, the codes 0 so far as history); codec_eos ends the speech; else the code predictor
// adds codes 1 … Q−1, the frame goes to code2wav, and the next talker input is
// codec_embedding(code 0) + Σ code predictor embeddings + the trailing text row.
//
// The result does not depend on how thinker tokens and talker steps interleave: it equals
// running the thinker to the end first (what transformers does).
// Not thread-safe; the talker, predictor and code2wav must not be used elsewhere meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "speech/code2wav.h"
#include "speech/code_predictor.h"
#include "speech/talker.h"
#include "speech/talker_prompt.h"
#include "util/elapsed.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

// Chooses code 0 from the talker's logits [vocab] (suppressed ids are −inf) given the codes 0
// chosen before (for the repetition penalty): greedy, or a sampler's draw.
using TalkerChooser =
    std::function<int32_t(float* logits, int64_t vocab, const std::vector<int32_t>& history)>;
// Receives each piece of the waveform (24 kHz mono, in [−1, 1]) as it is made.
using AudioSink = std::function<Status(const float* samples, int64_t n)>;

struct SpeechOptions {
  int64_t speaker_id = -1;  // talker_config.speaker_id[voice]
  // Frames at most (12.5 per second of speech); transformers' talker_max_new_tokens is one more.
  int64_t max_frames = 4095;
  int64_t chunk_frames = 25;  // audio window (transformers decodes 300 at a time)
  int64_t left_context = Code2Wav::kLeftContext;
};

struct SpeechStats {
  int64_t frames = 0;
  int64_t samples = 0;
  bool ended_on_eos = false;  // the talker emitted codec_eos (else max_frames or no text)
  double talker_seconds = 0;  // talker forward passes, prefill included
  double predictor_seconds = 0;
  double code2wav_seconds = 0;
  double first_audio_seconds = -1;  // from Begin to the first samples handed to the sink
};

class SpeechStream {
 public:
  SpeechStream(Talker* talker, CodePredictor* predictor, Code2Wav* code2wav,
               const EmbeddingTable* thinker_embedding, const ModelConfig& config,
               const SpeechOptions& options, TalkerChooser talker_choose,
               TokenChooser predictor_choose, AudioSink sink, ThreadPool* pool);

  // `input`: the thinker's input ids (the conversation through the generation prompt), fed
  // before any OnToken. `media_row(p)`: the thinker's accept_hidden_layer state at input position
  // p, for media placeholders in user turns (called during Begin only).
  Status Begin(const std::vector<int32_t>& input,
               const std::function<const float*(int64_t)>& media_row);
  // The thinker generated `id` (the previous one is now fed).
  Status OnToken(int32_t id);
  // The thinker has stopped — on a stop token (`stopped`), or at its token limit: speaks the
  // rest and flushes the last audio window.
  Status Finish(bool stopped);

  const SpeechStats& stats() const { return stats_; }
  // Every frame's codes so far, [frames, Q] (frame-major).
  const std::vector<int32_t>& codes() const { return codes_; }

 private:
  // Runs the talker as far as the text known allows (all the way when finished_).
  Status Advance();
  Status Prefill();
  // Code 0 from logits_: suppression, then the chooser.
  int32_t ChooseCode0();
  Status EmitFrame();  // the code predictor and code2wav for the current code 0
  // Hands audio_ to the sink and empties it.
  Status Sink();

  Talker* talker_;
  CodePredictor* predictor_;
  Code2Wav* code2wav_;
  TalkerPromptBuilder prompt_;
  const ModelConfig& config_;
  SpeechOptions options_;
  TalkerChooser talker_choose_;
  TokenChooser predictor_choose_;
  AudioSink sink_;
  ThreadPool* pool_;
  Code2WavStream wav_stream_;

  SteadyTime begin_;
  int64_t assistant_start_ = -1;
  std::vector<float> user_part_;  // [user rows, hidden], kept until the prefill
  std::vector<int32_t> user_ids_;
  std::vector<int32_t> fed_;  // thinker tokens fed so far
  bool has_pending_ = false;  // a generated token not yet fed
  int32_t pending_ = 0;
  int64_t generated_ = 0;  // thinker tokens generated (OnToken calls)
  bool finished_ = false, stopped_ = false, started_ = false, done_ = false;
  int64_t step_ = 0;            // the next decode step
  bool frame_emitted_ = false;  // the current code 0's frame went to code2wav
  int32_t code0_ = -1;
  std::vector<int32_t> history_;  // codes 0 chosen so far
  std::vector<int32_t> codes_;    // [frames, Q]
  KvCache cache_{0, 0, 0};
  LedgerCharge cache_charge_;  // kKvCache
  std::vector<float> logits_, hidden_, input_, text_row_, audio_;
  SpeechStats stats_;
};

}  // namespace omnisage

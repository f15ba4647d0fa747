// Speaker: speech output for an Engine's conversations (spec §8). It loads the talker, the code
// predictor and code2wav of the engine's Qwen3-Omni model — only when speech is asked for, their
// weights charged to the ledger like the thinker's — and runs a Session's answer with the
// SpeechStream beside it, so audio leaves in windows while the text streams.
//
// With an expert budget the talker's routed experts go through a CachedExperts sharing the
// thinker's cache (one budget, statistics per stack); without one they are all resident.
// Sampling follows the thinker's: greedy thinker → greedy talker and code predictor (as
// transformers' generate with talker_do_sample=False; the talker's repetition penalty 1.05 still
// applies); sampling thinker → transformers' talker defaults (temperature 0.9, top-k 50,
// repetition penalty 1.05) and code predictor defaults (top-k 50, top-p 0.8), seeded from the
// thinker's seed.
//
// The talker reads the thinker's accept_hidden_layer state at media placeholders of user turns:
// during each answer the Speaker watches the thinker's decoder (MoeDecoder::set_hidden_observer)
// and keeps those rows for the rest of the conversation.
// Not thread-safe: one conversation at a time, on the engine's one forward thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "runtime/engine.h"
#include "speech/code2wav.h"
#include "speech/code_predictor.h"
#include "speech/speech_stream.h"
#include "speech/talker.h"
#include "util/memory_ledger.h"
#include "util/options.h"
#include "util/status.h"

namespace omnisage {

struct SpeakOptions {
  std::string voice = "ethan";  // a talker_config.speaker_id name (case-insensitive)
  int64_t max_frames = 4095;    // transformers' talker_max_new_tokens 4096, less one
  int64_t chunk_frames = 25;    // audio window in codec frames (80 ms each)

  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(voice,
      {.name = "voice", .help = "Speaker of --speak (the model's talker_config.speaker_id)"});
    v(max_frames, {.name = "speak-max-frames",
                   .help = "Most codec frames per spoken answer (12.5 per second)",
                   .min = 1});
    v(chunk_frames, {.name = "speak-chunk",
                     .help = "Audio window in codec frames: first audio after this many; 300 "
                             "reproduces transformers' waveform exactly",
                     .min = 1});
  }
};

struct SpokenAnswer {
  GenerateStats text;
  SpeechStats speech;
  std::vector<int32_t> codes;  // [frames, Q] the codec codes spoken
};

class Speaker {
 public:
  // Errors: a model without a talker (qwen3_moe, or enable_audio_output false), talker, code
  // predictor or code2wav tensors missing (named), a budget too small for the talker's experts.
  static StatusOr<std::unique_ptr<Speaker>> Load(Engine* engine);

  // The speaker id of `voice`; an unknown name lists the model's speakers.
  StatusOr<int64_t> VoiceId(const std::string& voice) const;

  // Session::Generate, spoken: `on_token` sees each text token as it comes, `sink` each piece of
  // the waveform (24 kHz mono). Errors: those of Generate, an unknown voice, the sink's.
  StatusOr<SpokenAnswer> Generate(Session* session, const Prompt& prompt,
                                  const GenerateOptions& options, const SpeakOptions& speak,
                                  const std::function<bool(int32_t)>& on_token,
                                  const AudioSink& sink);

  // The talker's expert provider under the shared budget, or null when its experts are resident.
  CachedExperts* expert_cache() { return cache_.get(); }
  int sample_rate() const { return Code2Wav::kSampleRate; }

 private:
  explicit Speaker(Engine* engine) : engine_(engine) {}

  Engine* engine_;
  std::unique_ptr<CachedExperts> cache_;  // outlives talker_
  std::unique_ptr<Talker> talker_;
  std::unique_ptr<CodePredictor> predictor_;
  std::unique_ptr<Code2Wav> code2wav_;
  // The thinker's accept_hidden_layer rows at media placeholders of this conversation, by
  // position; and the rows of the prompt being prefilled.
  std::map<int64_t, std::vector<float>> media_rows_;
  std::map<int64_t, std::vector<float>> captured_;
  LedgerCharge rows_charge_;  // kActivations
};

// Names of the talker, code predictor and code2wav tensors the model's config implies but the
// source lacks (empty when speech can load).
std::vector<std::string> MissingSpeechTensors(const WeightSource& source,
                                              const ModelConfig& config);

}  // namespace omnisage

#include "runtime/speaker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "model/tensor_table.h"
#include "runtime/sampler.h"
#include "util/phase.h"

namespace omnisage {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsSpeechComponent(Component c) {
  return c == Component::kTalker || c == Component::kCodePredictor || c == Component::kCode2Wav;
}

}  // namespace

std::vector<std::string> MissingSpeechTensors(const WeightSource& source,
                                              const ModelConfig& config) {
  std::vector<std::string> missing;
  for (const TensorSpec& t : ModelTensors(config)) {
    const TensorKind kind = ClassifyTensor(t.name);
    // Routed experts may be stored fused; a missing one is named when it is first read.
    if (!IsSpeechComponent(kind.component) || kind.role == TensorRole::kExpert) continue;
    if (source.Find(t.name) == nullptr) missing.push_back(t.name);
  }
  return missing;
}

StatusOr<std::unique_ptr<Speaker>> Speaker::Load(Engine* engine) {
  const ModelConfig& c = engine->config();
  const WeightSource& source = engine->source();
  const ScopedPhase phase(Phase::kLoad);
  if (c.arch != Arch::kQwen3OmniMoe) {
    return InvalidArgument(fmt::format(
        "{}: speech output needs a Qwen3-Omni model (qwen3_omni_moe, with a talker); this one is "
        "{}",
        source.path(), c.model_type));
  }
  if (!c.has_talker) {
    return InvalidArgument(
        fmt::format("{}: enable_audio_output is false in config.json: the model has no talker",
                    source.config_path()));
  }
  const std::vector<std::string> missing = MissingSpeechTensors(source, c);
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < std::min<size_t>(missing.size(), 5); ++i) {
      names += (i > 0 ? ", " : "") + missing[i];
    }
    if (missing.size() > 5) names += fmt::format(", … ({} more)", missing.size() - 5);
    return NotFound(fmt::format(
        "{}: speech output needs the talker, code predictor and code2wav weights; {} tensor(s) "
        "missing: {}",
        source.path(), missing.size(), names));
  }
  OMNI_RETURN_IF_ERROR(
      engine->CheckPlanned({kTalkerWeights, kCodePredictorWeights, kCode2WavWeights},
                           "the talker, code predictor and code2wav"));
  std::unique_ptr<Speaker> s(new Speaker(engine));
  const std::string prefix = StackNames(c, Component::kTalker).prefix;
  if (CachedExperts* thinker = engine->expert_cache()) {
    OMNI_ASSIGN_OR_RETURN(
        s->cache_,
        CachedExperts::CreateSharing(source, prefix, Component::kTalker, c.talker.text, thinker));
  }
  OMNI_ASSIGN_OR_RETURN(s->talker_, Talker::Load(source, c, s->cache_.get()));
  s->talker_->decoder().set_prefetch(s->cache_ != nullptr && engine->options().cache.prefetch);
  OMNI_ASSIGN_OR_RETURN(s->predictor_, CodePredictor::Load(source, c.talker));
  OMNI_ASSIGN_OR_RETURN(s->code2wav_, Code2Wav::Load(source, c.code2wav));
  return s;
}

StatusOr<int64_t> Speaker::VoiceId(const std::string& voice) const {
  const auto& speakers = engine_->config().talker.speaker_id;
  for (const auto& [name, id] : speakers) {
    if (Lower(name) == Lower(voice)) return id;
  }
  std::string names;
  for (const auto& [name, id] : speakers) names += (names.empty() ? "" : ", ") + name;
  return InvalidArgument(fmt::format("--voice '{}': not a speaker of this model (speakers: {})",
                                     voice, names.empty() ? "none" : names));
}

StatusOr<SpokenAnswer> Speaker::Generate(Session* session, const Prompt& prompt,
                                         const GenerateOptions& options, const SpeakOptions& speak,
                                         const std::function<bool(int32_t)>& on_token,
                                         const AudioSink& sink) {
  OMNI_ASSIGN_OR_RETURN(const int64_t speaker_id, VoiceId(speak.voice));
  // The talker speaks from the last "<|im_start|>assistant": a prompt without one (--raw text)
  // is refused before anything runs.
  OMNI_RETURN_IF_ERROR(LayoutTalkerPrompt(prompt.ids, engine_->config().tokens).status());
  const ModelConfig& c = engine_->config();
  const bool greedy = options.sampling.temperature <= 0;
  // transformers' generate: the talker's repetition penalty applies greedy or not.
  SamplerOptions talker_options{.repetition_penalty = 1.05f, .seed = options.sampling.seed};
  SamplerOptions predictor_options{.seed = options.sampling.seed + 1};
  if (!greedy) {
    talker_options.temperature = 0.9f;
    talker_options.top_k = 50;
    predictor_options.temperature = 1.0f;
    predictor_options.top_k = 50;
    predictor_options.top_p = 0.8f;
  }
  Sampler talker_sampler(talker_options), predictor_sampler(predictor_options);
  const std::vector<int32_t> no_history;
  SpeechOptions so;
  so.speaker_id = speaker_id;
  so.max_frames = speak.max_frames;
  so.chunk_frames = speak.chunk_frames;
  SpeechStream stream(
      talker_.get(), predictor_.get(), code2wav_.get(), &engine_->model().embedding(), c, so,
      [&](float* logits, int64_t vocab, const std::vector<int32_t>& history) {
        return talker_sampler.Sample(logits, vocab, history);
      },
      [&](float* logits, int64_t vocab) {
        return predictor_sampler.Sample(logits, vocab, no_history);
      },
      sink, &engine_->pool());

  // The thinker's hidden states at accept_hidden_layer, for the prompt's rows.
  MoeDecoder& thinker = engine_->model().decoder();
  const int64_t hidden = c.text.hidden_size;
  captured_.clear();
  thinker.set_hidden_observer(static_cast<int>(c.talker.accept_hidden_layer),
                              [this, hidden](const float* rows, int64_t n, int64_t start) {
                                if (n < 2) return;  // decode steps: generated text, never media
                                for (int64_t t = 0; t < n; ++t) {
                                  captured_[start + t].assign(rows + t * hidden,
                                                              rows + (t + 1) * hidden);
                                }
                              });
  const SpecialTokens& tok = c.tokens;
  auto is_media = [&tok](int32_t id) {
    return id == tok.audio_token || id == tok.image_token || id == tok.video_token;
  };
  Status speech;
  bool began = false;
  auto text_and_speech = [&](int32_t id) {
    const bool keep_going = on_token(id);
    if (!began && speech.ok()) {
      began = true;
      const std::vector<int32_t>& input = session->history();
      for (auto& [pos, row] : captured_) {
        if (pos < static_cast<int64_t>(input.size()) && is_media(input[pos])) {
          media_rows_[pos] = std::move(row);
        }
      }
      captured_.clear();
      rows_charge_ =
          LedgerCharge(MemoryKind::kActivations, media_rows_.size() * hidden * sizeof(float));
      speech = stream.Begin(input, [this](int64_t pos) -> const float* {
        auto it = media_rows_.find(pos);
        return it == media_rows_.end() ? nullptr : it->second.data();
      });
    }
    if (speech.ok()) speech = stream.OnToken(id);
    return keep_going && speech.ok();
  };
  auto text = session->Generate(prompt, options, text_and_speech);
  thinker.set_hidden_observer(0, nullptr);
  captured_.clear();
  if (!text.ok()) return text.status();
  OMNI_RETURN_IF_ERROR(speech);
  const ScopedPhase phase(Phase::kSpeak);
  OMNI_RETURN_IF_ERROR(stream.Finish(text->stopped));
  return SpokenAnswer{*text, stream.stats(), stream.codes()};
}

}  // namespace omnisage

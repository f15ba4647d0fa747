// Speech output end to end against HF transformers: Qwen3OmniMoeForConditionalGeneration.generate
// (..., return_audio=True) with greedy thinker, talker and code predictor on the tiny checkpoint
// (tests/golden/speech/…/generate.json, by tools/reference/make_speech_golden.py): a system and a
// user turn, two turns with an earlier answer, and a user turn with an audio clip (whose rows the
// talker takes from the thinker's hidden states). The engine's
// thinker, talker prompt, talker, code predictor and code2wav must give the same text ids, the same
// codec codes and the same waveform within 1e-4 (float32 on both sides from the same bf16
// weights; measured ~1e-6, see docs/speech.md). Also: streaming while the text streams, the same
// codes under an expert budget shared by both stacks, and the errors.
#include "runtime/speaker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../audio/test_clips.h"
#include "generated_model.h"
#include "io/weight_source.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"
#include "tiny_checkpoint.h"

namespace omnisage {
namespace {

struct Case {
  std::string name;
  std::vector<int32_t> input, answer;  // the thinker's input, and the ids generate added
  Prompt prompt;                       // what the engine is given (one pad per clip)
  int64_t max_new = 0, eos = 0, talker_max = 0;
  std::vector<int32_t> codes;  // [frames, Q]
  std::vector<float> wav;
};

std::vector<Case> Cases() {
  const nlohmann::json g = nlohmann::json::parse(std::ifstream(SpeechGolden("generate.json")));
  std::vector<Case> out;
  for (const auto& c : g["cases"]) {
    Case k;
    k.name = c["name"];
    k.input = c["input_ids"].get<std::vector<int32_t>>();
    const auto seq = c["sequence"].get<std::vector<int32_t>>();
    k.answer.assign(seq.begin() + static_cast<int64_t>(k.input.size()), seq.end());
    k.prompt.ids = k.input;
    if (c.contains("clip")) {  // the input's pads are the clip's expanded placeholder
      k.prompt.ids = c["prompt_ids"].get<std::vector<int32_t>>();
      k.prompt.audio.push_back(
          {"test_clip", testing::TestClip(c["clip"]["seed"], c["clip"]["samples"])});
    }
    k.max_new = c["thinker_max_new_tokens"];
    k.eos = c["thinker_eos"];
    k.talker_max = c["talker_max_new_tokens"];
    for (const auto& frame : c["codes"]) {
      for (int32_t code : frame.get<std::vector<int32_t>>()) k.codes.push_back(code);
    }
    k.wav = ReadBinaryFile<float>(SpeechGolden("generate_" + k.name + ".f32"));
    out.push_back(std::move(k));
  }
  return out;
}

struct Spoken {
  std::vector<int32_t> text;
  std::vector<float> wav;
  std::vector<int32_t> codes;
  SpeechStats stats;
  int64_t text_tokens_at_first_audio = -1;
};

StatusOr<Spoken> Speak(Engine* engine, Speaker* speaker, const Case& c, int64_t chunk,
                       const std::string& voice = "ethan") {
  Session session(engine);
  GenerateOptions options;
  options.max_tokens = static_cast<int>(c.max_new);
  options.stop_ids = {static_cast<int32_t>(c.eos)};
  SpeakOptions speak;
  speak.voice = voice;
  speak.max_frames = c.talker_max - 1;
  speak.chunk_frames = chunk;
  Spoken out;
  auto answer = speaker->Generate(
      &session, c.prompt, options, speak,
      [&](int32_t id) {
        out.text.push_back(id);
        return true;
      },
      [&](const float* samples, int64_t n) {
        if (out.text_tokens_at_first_audio < 0) {
          out.text_tokens_at_first_audio = static_cast<int64_t>(out.text.size());
        }
        out.wav.insert(out.wav.end(), samples, samples + n);
        return Status::Ok();
      });
  if (!answer.ok()) return answer.status();
  out.stats = answer->speech;
  out.codes = answer->codes;
  return out;
}

class SpeakerTest : public ::testing::Test {
 protected:
  void Load(const std::string& budget = "") {
    auto engine = Engine::Load(
        {.model = TinyCheckpointDir(), .threads = 2, .context = 256, .budget = budget});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    auto speaker = Speaker::Load(engine_.get());
    ASSERT_TRUE(speaker.ok()) << speaker.status().ToString();
    speaker_ = std::move(*speaker);
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Speaker> speaker_;
};

TEST_F(SpeakerTest, MatchesTransformersGenerate) {
  Load();
  float max_diff = 0;
  for (const Case& c : Cases()) {
    auto spoken = Speak(engine_.get(), speaker_.get(), c, Code2Wav::kReferenceChunk);
    ASSERT_TRUE(spoken.ok()) << c.name << ": " << spoken.status().ToString();
    EXPECT_EQ(spoken->text, c.answer) << c.name;
    const Spoken& s = *spoken;
    // The codes of every frame, as transformers' talker and code predictor chose them.
    EXPECT_EQ(s.codes, c.codes) << c.name;
    ASSERT_EQ(s.wav.size(), c.wav.size()) << c.name;
    for (size_t i = 0; i < c.wav.size(); ++i)
      max_diff = std::max(max_diff, std::fabs(s.wav[i] - c.wav[i]));
  }
  EXPECT_LT(max_diff, 1e-4f);
  RecordProperty("max_abs_diff", std::to_string(max_diff));
}

// Small windows: audio leaves while the thinker is still writing, and the pieces joined are
// code2wav's chunked decode of all the codes with that window.
TEST_F(SpeakerTest, AudioStreamsWhileTheTextDoes) {
  Load();
  const Case c = Cases()[0];
  auto spoken = Speak(engine_.get(), speaker_.get(), c, /*chunk=*/4);
  ASSERT_TRUE(spoken.ok()) << spoken.status().ToString();
  EXPECT_EQ(spoken->codes, c.codes);
  EXPECT_GT(spoken->text_tokens_at_first_audio, 0);
  EXPECT_LT(spoken->text_tokens_at_first_audio, static_cast<int64_t>(c.answer.size()));
  auto source = OpenCheckpointSource(TinyCheckpointDir());
  ASSERT_TRUE(source.ok());
  auto code2wav = Code2Wav::Load(**source, engine_->config().code2wav);
  ASSERT_TRUE(code2wav.ok());
  std::vector<float> one_shot;
  ASSERT_TRUE((*code2wav)
                  ->ChunkedDecode(c.codes.data(), static_cast<int64_t>(c.codes.size()) / 4, 4,
                                  Code2Wav::kLeftContext, &one_shot, nullptr)
                  .ok());
  EXPECT_EQ(spoken->wav, one_shot);
  EXPECT_GE(spoken->stats.first_audio_seconds, 0);
}

// Exact mode under a budget that both stacks share (and evict each other in): the same codes
// and waveform as every expert resident; the talker's statistics are its own.
TEST_F(SpeakerTest, SameSpeechUnderASharedBudget) {
  Load();
  const Case c = Cases()[0];
  auto unlimited = Speak(engine_.get(), speaker_.get(), c, Code2Wav::kReferenceChunk);
  ASSERT_TRUE(unlimited.ok());
  Load("32KiB");
  ASSERT_NE(speaker_->expert_cache(), nullptr);
  auto budgeted = Speak(engine_.get(), speaker_.get(), c, Code2Wav::kReferenceChunk);
  ASSERT_TRUE(budgeted.ok()) << budgeted.status().ToString();
  EXPECT_EQ(budgeted->text, unlimited->text);
  EXPECT_EQ(budgeted->codes, unlimited->codes);
  EXPECT_EQ(budgeted->wav, unlimited->wav);
  const ExpertCacheStats talker = speaker_->expert_cache()->total_stats();
  const ExpertCacheStats thinker = engine_->expert_cache()->total_stats();
  EXPECT_GT(talker.accesses, 0u);
  EXPECT_GT(talker.misses, 0u);
  EXPECT_GT(thinker.accesses, 0u);
  EXPECT_LE(engine_->expert_cache()->cache().peak_usage(), 32u * 1024);
}

TEST_F(SpeakerTest, UnknownVoiceListsTheSpeakers) {
  Load();
  auto spoken = Speak(engine_.get(), speaker_.get(), Cases()[0], 25, "nobody");
  ASSERT_FALSE(spoken.ok());
  EXPECT_NE(spoken.status().message().find("'nobody'"), std::string::npos);
  EXPECT_NE(spoken.status().message().find("aiden, chelsie, ethan"), std::string::npos)
      << spoken.status().ToString();
  EXPECT_TRUE(speaker_->VoiceId("Ethan").ok());  // case-insensitive, as transformers
}

TEST(SpeakerLoadTest, Qwen3MoeHasNoTalker) {
  const std::string dir = TinyCheckpointDir() + "_qwen3_moe";
  ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(dir, Arch::kQwen3Moe).ok());
  auto engine = Engine::Load({.model = dir, .threads = 1, .context = 64});
  ASSERT_TRUE(engine.ok());
  auto speaker = Speaker::Load(engine->get());
  ASSERT_FALSE(speaker.ok());
  EXPECT_NE(speaker.status().message().find("needs a Qwen3-Omni model"), std::string::npos);
  EXPECT_NE(speaker.status().message().find("qwen3_moe"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A source that hides some tensors of another.
class HidingSource : public WeightSource {
 public:
  HidingSource(const WeightSource& base, const std::string& hidden_prefix) : base_(base) {
    for (const WeightEntry& e : base.tensors()) {
      if (e.name.rfind(hidden_prefix, 0) != 0) entries_.push_back(e);
    }
    BuildIndex();
  }
  std::string_view kind() const override { return base_.kind(); }
  const std::string& path() const override { return base_.path(); }
  const std::string& config_path() const override { return base_.config_path(); }
  const std::vector<std::string>& files() const override { return base_.files(); }
  Status Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const override {
    return base_.Read(t, offset, n, dst);
  }

 private:
  const WeightSource& base_;
};

TEST(SpeakerLoadTest, MissingTalkerTensorsAreNamed) {
  auto source = OpenCheckpointSource(TinyCheckpointDir());
  ASSERT_TRUE(source.ok());
  auto config = LoadModelConfig((*source)->config_path());
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(MissingSpeechTensors(**source, *config).empty());
  const HidingSource no_code2wav(**source, "code2wav.");
  const std::vector<std::string> missing = MissingSpeechTensors(no_code2wav, *config);
  ASSERT_FALSE(missing.empty());
  EXPECT_EQ(missing[0], "code2wav.code_embedding.weight");
  const HidingSource no_talker(**source, "talker.");
  const std::vector<std::string> no_talker_missing = MissingSpeechTensors(no_talker, *config);
  ASSERT_FALSE(no_talker_missing.empty());
  EXPECT_EQ(no_talker_missing[0], "talker.model.codec_embedding.weight");
}

}  // namespace
}  // namespace omnisage

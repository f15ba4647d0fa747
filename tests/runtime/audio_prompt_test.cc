// Prompts with audio, end to end, against transformers' Qwen3-Omni thinker on the same generated
// weights (tests/golden/audio/thinker, from tools/reference/make_audio_golden.py on
// `synth --preset tiny --seed 0`): the ChatML text is tokenized, each <|audio_pad|> expanded,
// the clips featurised and encoded, the embeddings placed, the positions computed, and the
// thinker run — every step OmniSage's own — against the reference's processor and thinker.
//
// Checked: the expanded ids, the argmax at every position, the logits of the last positions and
// 16 greedy tokens. The logit bound is the text goldens' (tests/model/golden_test.cc): 1e-4 on
// logits of magnitude ~5, i.e. 2e-5 relative. Both sides compute the same float32 function of the
// same bf16 weights; the encoder outputs entering the thinker agree to 7e-7
// (audio_encoder_test.cc), and the largest logit difference measured is 1.9e-6 (recorded as
// max_abs_diff): the bound leaves a 50x margin and is still far below a change of one weight's
// last bf16 bit (~4e-3 relative).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../audio/test_clips.h"
#include "media/audio_file.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/audio/thinker/";

nlohmann::json Meta() {
  std::ifstream f(kDir + "meta.json");
  return nlohmann::json::parse(f);
}

class AudioPromptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        fmt::format("omnisage_audio_prompt_{}", getpid()));
    fs::remove_all(*dir_);
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = Arch::kQwen3OmniMoe;
    o.seed = 0;
    o.out_dir = (*dir_ / "model").string();
    o.tokenizer_dir = ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer";
    o.progress = false;
    ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    auto engine = Engine::Load({.model = (*dir_ / "model").string(), .threads = 2, .context = 256});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }

  // The clips of a golden case: test clips, or the 44.1 kHz stereo file through media/.
  std::vector<AudioClip> Clips(const nlohmann::json& meta, const std::string& name) {
    std::vector<AudioClip> clips;
    for (const auto& c : meta["cases"][name]["clips"]) {
      if (c.is_string()) {
        clips.push_back({"stereo.wav", StereoClip(meta["stereo"])});
      } else {
        clips.push_back({fmt::format("clip{}", c[0].get<int>()),
                         testing::TestClip(c[0].get<uint32_t>(), c[1].get<int64_t>())});
      }
    }
    return clips;
  }

  // The reference's stereo WAV, written with libsndfile, read back as 16 kHz mono.
  std::vector<float> StereoClip(const nlohmann::json& s) {
    const int64_t n = s["frames"];
    const std::vector<float> left = testing::TestClip(s["seeds"][0], n);
    const std::vector<float> right = testing::TestClip(s["seeds"][1], n);
    std::vector<int16_t> pcm(2 * n);
    for (int64_t i = 0; i < n; ++i) {
      pcm[2 * i] = static_cast<int16_t>(std::lround(left[i] * 32768));
      pcm[2 * i + 1] = static_cast<int16_t>(std::lround(right[i] * 32768));
    }
    const std::string path = (*dir_ / "stereo.wav").string();
    SF_INFO info{};
    info.samplerate = s["rate"];
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(sf_writef_short(f, pcm.data(), n), n);
    sf_close(f);
    auto samples = LoadAudio16kMono(path);
    EXPECT_TRUE(samples.ok()) << samples.status().ToString();
    return samples.ok() ? *samples : std::vector<float>{};
  }

  Prompt PromptOf(const nlohmann::json& meta, const std::string& name) {
    Prompt p;
    p.ids = engine_->tokenizer()->Encode(meta["cases"][name]["text"].get<std::string>());
    p.audio = Clips(meta, name);
    return p;
  }

  static fs::path* dir_;
  std::unique_ptr<Engine> engine_;
};
fs::path* AudioPromptTest::dir_ = nullptr;

class AudioPromptGoldenTest : public AudioPromptTest,
                              public ::testing::WithParamInterface<std::string> {};

TEST_P(AudioPromptGoldenTest, LogitsMatchTransformers) {
  const nlohmann::json meta = Meta();
  const nlohmann::json& c = meta["cases"][GetParam()];
  Session session(engine_.get());
  auto logits = session.EvalAll(PromptOf(meta, GetParam()));
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(session.history(), ids);  // the processor's expansion
  const int64_t vocab = c["vocab"], n = static_cast<int64_t>(ids.size()), last = meta["last"];
  ASSERT_EQ(logits->size(), static_cast<size_t>(n * vocab));
  const auto argmax = c["argmax"].get<std::vector<int64_t>>();
  for (int64_t t = 0; t < n; ++t) {
    const float* row = logits->data() + t * vocab;
    EXPECT_EQ(std::max_element(row, row + vocab) - row, argmax[t]) << "position " << t;
  }
  std::vector<float> want(last * vocab);
  std::ifstream bin(kDir + c["file"].get<std::string>(), std::ios::binary);
  bin.read(reinterpret_cast<char*>(want.data()), want.size() * sizeof(float));
  ASSERT_TRUE(bin.good());
  double max_diff = 0;
  for (int64_t i = 0; i < last * vocab; ++i) {
    max_diff = std::max<double>(max_diff, std::fabs((*logits)[(n - last) * vocab + i] - want[i]));
  }
  EXPECT_LT(max_diff, 1e-4);
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", max_diff));
}

TEST_P(AudioPromptGoldenTest, GreedyContinuationIsIdentical) {
  const nlohmann::json meta = Meta();
  const auto expected = meta["cases"][GetParam()]["greedy"].get<std::vector<int32_t>>();
  Session session(engine_.get());
  GenerateOptions opts;
  opts.max_tokens = static_cast<int>(expected.size());
  std::vector<int32_t> got;
  auto stats = session.Generate(PromptOf(meta, GetParam()), opts, [&](int32_t id) {
    got.push_back(id);
    return true;
  });
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(stats->prompt_tokens, static_cast<int64_t>(meta["cases"][GetParam()]["ids"].size()));
}

INSTANTIATE_TEST_SUITE_P(Tiny, AudioPromptGoldenTest,
                         ::testing::Values("short", "long", "two_clips", "stereo_44k"));

TEST_F(AudioPromptTest, PlaceholderCountMustMatchTheClips) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "short");
  p.audio.push_back(p.audio[0]);
  Session session(engine_.get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1 audio placeholders"), std::string::npos)
      << r.status().message();
}

TEST_F(AudioPromptTest, AudioLongerThanTheContextIsRefusedNamingTheClip) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "short");
  p.audio[0] = {"long.wav", testing::TestClip(1, 16000 * 30)};  // 390 tokens, context 256
  Session session(engine_.get());
  std::vector<int32_t> got;
  auto r = session.Generate(p, {}, [&](int32_t) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("long.wav (30.0 s, 390 tokens)"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(session.history().empty());  // nothing fed
}

TEST_F(AudioPromptTest, AClipTooShortForAFrameIsAnErrorNamingIt) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "short");
  p.audio[0] = {"blip.wav", std::vector<float>(100, 0.1f)};
  Session session(engine_.get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("blip.wav"), std::string::npos) << r.status().message();
}

// The encoder is loaded on first use and charged to the ledger; text alone never loads it.
TEST_F(AudioPromptTest, EncoderLoadsOnFirstUse) {
  EXPECT_EQ(engine_->loaded_audio_encoder(), nullptr);
  Session session(engine_.get());
  ASSERT_TRUE(session.EvalAll(std::vector<int32_t>{1, 2, 3}).ok());
  EXPECT_EQ(engine_->loaded_audio_encoder(), nullptr);
  const uint64_t dense = MemoryLedger::Global().current(MemoryKind::kDense);
  ASSERT_TRUE(session.EvalAll(PromptOf(Meta(), "short")).ok());
  ASSERT_NE(engine_->loaded_audio_encoder(), nullptr);
  EXPECT_EQ(MemoryLedger::Global().current(MemoryKind::kDense),
            dense + engine_->loaded_audio_encoder()->weight_bytes());
}

}  // namespace
}  // namespace omnisage

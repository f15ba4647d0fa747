// The AuT audio encoder against transformers' Qwen3OmniMoeAudioEncoder on the same generated
// weights (tests/golden/audio/encoder, from tools/reference/make_audio_golden.py on
// `synth --preset tiny --seed 0`): OmniSage's log-mel features of the shared test clips, through
// OmniSage's encoder, against the reference's features through the reference's encoder.
//
// The bound: both sides compute in float32 from the same bf16 weights (exact in float32), so
// they differ by summation order, libm and the 4e-6 of the features. Outputs have magnitude ~1.2;
// the largest difference measured is 7.2e-7 (recorded as max_abs_diff). 1e-5 leaves >10x
// headroom and is well below what a change of arithmetic does: even the chunk padding alone (the
// same clip encoded alone or beside a longer one, PaddingDependsOnTheOtherClips) moves outputs by
// 3.8e-4.
#include "audio/audio_encoder.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/synth.h"
#include "source_paths.h"
#include "test_clips.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

TEST(AudioTokenCountTest, ThirteenTokensPerSecond) {
  EXPECT_EQ(AudioTokenCount(100), 13);
  EXPECT_EQ(AudioTokenCount(1000), 130);
  EXPECT_EQ(AudioTokenCount(3000), 390);
  EXPECT_EQ(AudioTokenCount(70), 9);     // 70 → 35 → 18 → 9
  EXPECT_EQ(AudioTokenCount(930), 121);  // 9 · 13 + (30 → 15 → 8 → 4)
  EXPECT_EQ(AudioTokenCount(1), 1);
  EXPECT_EQ(AudioTokenCount(101), 14);
  EXPECT_EQ(AudioTokenCount(199), 26);
}

class AudioEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        fmt::format("omnisage_audio_encoder_{}", getpid()));
    fs::remove_all(*dir_);
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = Arch::kQwen3OmniMoe;
    o.seed = 0;
    o.out_dir = dir_->string();
    o.tokenizer_dir = ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer";
    o.progress = false;
    ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    auto config = LoadModelConfig((*dir_ / "config.json").string());
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    config_ = *config;
    auto source = OpenCheckpointSource(dir_->string());
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    auto encoder = AudioEncoder::Load(**source, config_.audio);
    ASSERT_TRUE(encoder.ok()) << encoder.status().ToString();
    encoder_ = std::move(*encoder);
  }

  static fs::path* dir_;
  ModelConfig config_;
  std::unique_ptr<AudioEncoder> encoder_;
};
fs::path* AudioEncoderTest::dir_ = nullptr;

class AudioEncoderGoldenTest : public AudioEncoderTest,
                               public ::testing::WithParamInterface<std::string> {};

TEST_P(AudioEncoderGoldenTest, MatchesTransformers) {
  const std::string dir = ::omnisage::test_paths::SourceDir() + "/tests/golden/audio/encoder/";
  std::ifstream meta_file(dir + "meta.json");
  const nlohmann::json c = nlohmann::json::parse(meta_file)["cases"][GetParam()];
  std::vector<std::vector<float>> clips;
  std::vector<std::string> names;
  for (const auto& clip : c["clips"]) {
    clips.push_back(testing::TestClip(clip["seed"], clip["samples"]));
    names.push_back(fmt::format("clip {}", names.size()));
  }
  const LogMel mel(config_.audio.num_mel_bins);
  auto features = mel.ComputeBatch(clips, names);
  ASSERT_TRUE(features.ok()) << features.status().ToString();
  for (size_t i = 0; i < clips.size(); ++i) {
    EXPECT_EQ((*features)[i].frames, c["clips"][i]["frames"].get<int64_t>());
  }
  ThreadPool pool(2);
  std::vector<float> out;
  ASSERT_TRUE(encoder_->Encode(*features, &pool, &out).ok());
  const auto shape = c["shape"].get<std::vector<int64_t>>();
  ASSERT_EQ(out.size(), static_cast<size_t>(shape[0] * shape[1]));
  std::vector<float> want(out.size());
  std::ifstream bin(dir + c["file"].get<std::string>(), std::ios::binary);
  bin.read(reinterpret_cast<char*>(want.data()), want.size() * sizeof(float));
  ASSERT_TRUE(bin.good());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(out[i]) - want[i]));
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(want[i])));
  }
  EXPECT_LT(max_diff, 1e-5) << "largest output magnitude " << max_abs;
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", max_diff));
  RecordProperty("max_abs_value", fmt::format("{:.3g}", max_abs));
}

INSTANTIATE_TEST_SUITE_P(Tiny, AudioEncoderGoldenTest, ::testing::Values("short", "long", "pair"));

// Threads change nothing: the same bits on 1 and 2 threads (the split of a matmul's output rows
// does not change any sum's order).
TEST_F(AudioEncoderTest, ThreadCountDoesNotChangeTheOutput) {
  const LogMel mel(config_.audio.num_mel_bins);
  auto f = mel.Compute(testing::TestClip(3, 33000), "clip");
  ASSERT_TRUE(f.ok());
  std::vector<float> one, two;
  ASSERT_TRUE(encoder_->Encode({*f}, nullptr, &one).ok());
  ThreadPool pool(2);
  ASSERT_TRUE(encoder_->Encode({*f}, &pool, &two).ok());
  ASSERT_EQ(one.size(), static_cast<size_t>(AudioTokenCount(f->frames) * 64));
  EXPECT_EQ(one, two);
}

// A short clip's chunk is padded to the longest chunk of its prompt (as in the reference), so its
// embeddings change when a longer clip comes with it.
TEST_F(AudioEncoderTest, PaddingDependsOnTheOtherClips) {
  const LogMel mel(config_.audio.num_mel_bins);
  const std::vector<float> short_clip = testing::TestClip(13, 7213);
  auto pair = mel.ComputeBatch({testing::TestClip(12, 20800), short_clip}, {"long", "short"});
  auto alone = mel.Compute(short_clip, "short");
  ASSERT_TRUE(pair.ok() && alone.ok());
  // Same features for the first 45 frames away from the end; only the padding differs.
  (*pair)[1].frames = 45;
  (*pair)[1].data.clear();
  for (int64_t b = 0; b < 128; ++b) {
    for (int64_t t = 0; t < 45; ++t) (*pair)[1].data.push_back(alone->at(b, t));
  }
  std::vector<float> with_long, by_itself;
  ASSERT_TRUE(encoder_->Encode(*pair, nullptr, &with_long).ok());
  ASSERT_TRUE(encoder_->Encode({*alone}, nullptr, &by_itself).ok());
  const int64_t tokens = AudioTokenCount(45), offset = AudioTokenCount(130);
  ASSERT_EQ(by_itself.size(), static_cast<size_t>(tokens * 64));
  double diff = 0;
  for (int64_t i = 0; i < tokens * 64; ++i) {
    diff = std::max<double>(diff, std::fabs(with_long[offset * 64 + i] - by_itself[i]));
  }
  EXPECT_GT(diff, 1e-4);
  RecordProperty("padding_effect", fmt::format("{:.3g}", diff));
}

TEST_F(AudioEncoderTest, WrongFeatureShapeIsAnError) {
  MelFeatures f;
  f.bins = 80;
  f.frames = 10;
  f.data.assign(800, 0.0f);
  std::vector<float> out;
  Status s = encoder_->Encode({f}, nullptr, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("80"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace omnisage

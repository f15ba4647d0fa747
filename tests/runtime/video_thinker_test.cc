// Prompts with a video, end to end, against transformers' Qwen3-Omni thinker on the same generated
// weights (tests/golden/video/thinker, from tools/reference/make_video_golden.py --parts thinker on
// `synth --preset tiny --seed 0`): the ChatML text is tokenized, the video file decoded with
// FFmpeg, sampled, resized and patchified, encoded by the vision encoder, its sound track (when
// heard) through the log-mel and audio encoder, the pads expanded and interleaved, the deepstack
// features added and the positions computed — every step OmniSage's own — against the reference's
// Qwen3OmniMoeProcessor (with torchcodec) and thinker.
//
// Cases: a video alone at 2 fps, the same video heard with its own sound (use_audio_in_video:
// video and audio pads interleaved by time, positions as get_rope_index), and an H.264 video at
// 3 fps (second_per_grid 2/3, which the thinker receives as float32: its time axis at 0, 8.666667,
// 17.333334). Checked: the expanded ids, the argmax at every position, the logits of the last
// positions (bound 1e-4 as the image and audio goldens: the same float32 function of the same
// bf16 weights, bit-identical pixel values and samples, encoders within 2.5e-6; the largest
// difference is recorded as max_abs_diff) and 16 greedy tokens.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const std::string kVideos = ::omnisage::test_paths::SourceDir() + "/tests/golden/video/";
const std::string kDir = kVideos + "thinker/";

nlohmann::json Meta() {
  std::ifstream f(kDir + "meta.json");
  return nlohmann::json::parse(f);
}

class VideoThinkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        fmt::format("omnisage_video_thinker_{}", getpid()));
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
    auto engine = Engine::Load({.model = (*dir_ / "model").string(), .threads = 2, .context = 512});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }

  Prompt PromptOf(const nlohmann::json& meta, const std::string& name) {
    const nlohmann::json& c = meta["cases"][name];
    Prompt p;
    p.ids = engine_->tokenizer()->Encode(meta["text"].get<std::string>());
    p.use_audio_in_video = c["use_audio_in_video"].get<bool>();
    p.video_fps = c["fps"].get<double>();
    auto video = LoadVideoInput(kVideos + c["video"].get<std::string>(), p.use_audio_in_video);
    EXPECT_TRUE(video.ok()) << video.status().ToString();
    if (video.ok()) p.videos.push_back(std::move(*video));
    return p;
  }

  static fs::path* dir_;
  std::unique_ptr<Engine> engine_;
};
fs::path* VideoThinkerTest::dir_ = nullptr;

class VideoThinkerGoldenTest : public VideoThinkerTest,
                               public ::testing::WithParamInterface<std::string> {};

TEST_P(VideoThinkerGoldenTest, LogitsMatchTransformers) {
  const nlohmann::json meta = Meta();
  const nlohmann::json& c = meta["cases"][GetParam()];
  Session session(engine_.get());
  auto logits = session.EvalAll(PromptOf(meta, GetParam()));
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(session.history(), ids);  // the processor's expansion (and interleaving)
  const int64_t vocab = c["vocab"], n = static_cast<int64_t>(ids.size()), last = meta["last"];
  ASSERT_EQ(logits->size(), static_cast<size_t>(n * vocab));
  const auto argmax = c["argmax"].get<std::vector<int64_t>>();
  int64_t differ = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* row = logits->data() + t * vocab;
    differ += (std::max_element(row, row + vocab) - row) != argmax[t];
  }
  EXPECT_EQ(differ, 0) << "positions whose argmax differs";
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

TEST_P(VideoThinkerGoldenTest, GreedyContinuationIsIdentical) {
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

INSTANTIATE_TEST_SUITE_P(Tiny, VideoThinkerGoldenTest,
                         ::testing::Values("video", "video_with_audio", "video_fps3"));

// The float32 second_per_grid matters: positions from the exact 2/3 in float32 (what the thinker
// receives) are what the golden's ids and logits were made with; the time axis of the second
// frame group is 2/3 · 13 rounded as float32.
TEST_F(VideoThinkerTest, VideoTimeAxisUsesFloat32SecondsPerGrid) {
  const nlohmann::json meta = Meta();
  auto prepared = PreparePrompt(*engine_, {}, PromptOf(meta, "video_fps3"), 0, 512);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  const int32_t video_pad = static_cast<int32_t>(engine_->config().tokens.video_token);
  std::vector<float> times;
  for (size_t i = 0; i < prepared->ids.size(); ++i) {
    if (prepared->ids[i] == video_pad) times.push_back(prepared->positions.thw[3 * i]);
  }
  ASSERT_FALSE(times.empty());
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  ASSERT_EQ(times.size(), 3u);
  const float spg = static_cast<float>(2.0 / 3.0);
  EXPECT_EQ(times[1] - times[0], spg * 13.0f);
  EXPECT_EQ(times[2] - times[0], 2.0f * spg * 13.0f);
}

TEST_F(VideoThinkerTest, PlaceholderCountMustMatchTheVideos) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "video");
  p.videos.push_back(p.videos[0]);
  Session session(engine_.get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1 video placeholders (<|video_pad|>) but 2 videos"),
            std::string::npos)
      << r.status().message();
}

// A video whose tokens cannot fit is refused from its probe (packets, size, rate), before any frame
// is decoded.
TEST_F(VideoThinkerTest, AVideoLargerThanTheContextIsRefusedNamingIt) {
  auto engine = Engine::Load({.model = (*dir_ / "model").string(), .threads = 2, .context = 128});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "video");
  Session session(engine->get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("av_ffv1.mkv (2.4 s, 280 tokens)"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(session.history().empty());  // nothing fed
}

}  // namespace
}  // namespace omnisage

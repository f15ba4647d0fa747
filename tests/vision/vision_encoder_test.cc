// The vision encoder against transformers' Qwen3OmniMoeVisionEncoder on the same generated weights
// (tests/golden/vision/encoder, from tools/reference/make_vision_encoder_golden.py on
// `synth --preset tiny --seed 0`): the image processor's pixel values of the golden PNG files, or
// synthetic patches both sides build bit for bit, through both encoders.
//
// The bound: both sides compute in float32 from the same bf16 weights (exact in float32), so they
// differ by summation order (matmuls, LayerNorm statistics — here in double —, the softmax),
// libm's tanh/erf/cos/pow and the order of the 4 position-table taps. Outputs have magnitude up
// to 2.8; the largest difference measured is 2.5e-6 (recorded as max_abs_diff). 2e-5 leaves 8x
// headroom while anything structural is far above it: attention across frames instead of within
// one, for example, moves outputs by more than 1e-2 (OneFrameAtATime).
#include "vision/vision_encoder.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/synth.h"
#include "source_paths.h"
#include "util/memory_ledger.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const std::string kGolden = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/";

// make_vision_encoder_golden.py's synthetic patches, bit for bit.
std::vector<float> Synthetic(int64_t seed, int64_t patches, int64_t dim = 1536) {
  std::vector<float> v(patches * dim);
  for (int64_t i = 0; i < patches * dim; ++i) {
    v[i] = static_cast<float>((i * 7919 + seed * 104729) % 2001 - 1000) / 1000.0f;
  }
  return v;
}

std::vector<float> ReadF32(const std::string& path, size_t n) {
  std::vector<float> v(n);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  EXPECT_TRUE(in.good()) << path;
  return v;
}

double MaxDiff(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

class VisionEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        fmt::format("omnisage_vision_encoder_{}", getpid()));
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
    source_ = std::move(*source);
    auto encoder = VisionEncoder::Load(*source_, config_.vision);
    ASSERT_TRUE(encoder.ok()) << encoder.status().ToString();
    encoder_ = std::move(*encoder);
  }

  // The patches and grids of a golden case.
  void Inputs(const nlohmann::json& c, std::vector<float>* patches, std::vector<MediaGrid>* grids) {
    for (const auto& item : c["items"]) {
      const auto g = item["grid"].get<std::vector<int64_t>>();
      grids->push_back({g[0], g[1], g[2]});
      const int64_t n = g[0] * g[1] * g[2];
      const std::vector<float> p =
          item["source"].is_string()
              ? ReadF32(kGolden + item["source"].get<std::string>() + ".f32", n * 1536)
              : Synthetic(item["source"]["synthetic"].get<int64_t>(), n);
      patches->insert(patches->end(), p.begin(), p.end());
    }
  }

  static fs::path* dir_;
  ModelConfig config_;
  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<VisionEncoder> encoder_;
};
fs::path* VisionEncoderTest::dir_ = nullptr;

class VisionEncoderGoldenTest : public VisionEncoderTest,
                                public ::testing::WithParamInterface<std::string> {};

TEST_P(VisionEncoderGoldenTest, MatchesTransformers) {
  std::ifstream meta_file(kGolden + "encoder/meta.json");
  const nlohmann::json c = nlohmann::json::parse(meta_file)["cases"][GetParam()];
  std::vector<float> patches;
  std::vector<MediaGrid> grids;
  Inputs(c, &patches, &grids);
  ThreadPool pool(2);
  VisionFeatures out;
  ASSERT_TRUE(
      encoder_
          ->Encode(patches.data(), static_cast<int64_t>(patches.size() / 1536), grids, &pool, &out)
          .ok());
  const int64_t tokens = c["tokens"], width = c["width"];
  const int levels = c["levels"];
  ASSERT_EQ(out.tokens, tokens);
  ASSERT_EQ(out.width, width);
  ASSERT_EQ(out.levels, levels);
  const std::vector<float> want =
      ReadF32(kGolden + "encoder/" + c["file"].get<std::string>(), (levels + 1) * tokens * width);
  double max_abs = 0;
  for (float v : want) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
  const double d0 = MaxDiff(out.embeds.data(), want.data(), tokens * width);
  EXPECT_LT(d0, 2e-5) << "merger output; largest magnitude " << max_abs;
  double worst = d0;
  for (int k = 0; k < levels; ++k) {
    const double dk = MaxDiff(out.level(k), want.data() + (k + 1) * tokens * width, tokens * width);
    EXPECT_LT(dk, 2e-5) << "deepstack level " << k;
    worst = std::max(worst, dk);
  }
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", worst));
  RecordProperty("max_abs_value", fmt::format("{:.3g}", max_abs));
}

INSTANTIATE_TEST_SUITE_P(Tiny, VisionEncoderGoldenTest,
                         ::testing::Values("exact", "two", "wide", "video"));

// Threads change nothing: the same bits on 1 and 2 threads.
TEST_F(VisionEncoderTest, SameBitsOnOneAndTwoThreads) {
  const std::vector<float> p = Synthetic(5, 2 * 6 * 8);
  const std::vector<MediaGrid> grids = {{2, 6, 8}};
  VisionFeatures one, two;
  ASSERT_TRUE(encoder_->Encode(p.data(), 96, grids, nullptr, &one).ok());
  ThreadPool pool(2);
  ASSERT_TRUE(encoder_->Encode(p.data(), 96, grids, &pool, &two).ok());
  EXPECT_EQ(one.embeds, two.embeds);
  EXPECT_EQ(one.deepstack, two.deepstack);
}

// Frames are independent (attention stays in its frame): a video's frames give what each frame
// gives alone, and the activations are sized by one frame, not by the video.
TEST_F(VisionEncoderTest, OneFrameAtATime) {
  const std::vector<float> p = Synthetic(6, 3 * 4 * 6);
  VisionFeatures video;
  ASSERT_TRUE(encoder_->Encode(p.data(), 72, {{3, 4, 6}}, nullptr, &video).ok());
  const uint64_t video_bytes = encoder_->activations().bytes();
  for (int f = 0; f < 3; ++f) {
    VisionFeatures frame;
    ASSERT_TRUE(encoder_->Encode(p.data() + f * 24 * 1536, 24, {{1, 4, 6}}, nullptr, &frame).ok());
    for (int64_t i = 0; i < 6 * 64; ++i) {
      ASSERT_EQ(frame.embeds[i], video.embeds[f * 6 * 64 + i]) << "frame " << f;
    }
  }
  EXPECT_EQ(encoder_->activations().bytes(), video_bytes);
  EXPECT_EQ(video_bytes, VisionEncoderActivations::BytesFor(config_.vision, 24, 1));
  // The same 72 patches as one frame attend across all of them: different features.
  VisionFeatures joint;
  ASSERT_TRUE(encoder_->Encode(p.data(), 72, {{1, 6, 12}}, nullptr, &joint).ok());
  EXPECT_GT(MaxDiff(joint.embeds.data(), video.embeds.data(), joint.embeds.size()), 1e-2);
}

// The activation estimate of vision_activations.h at the real dimensions: ≈ 21 · frame · hidden
// bytes for large frames at 2 workers (the ledger is charged exactly BytesFor).
TEST(VisionActivationsTest, BoundedByOneFrame) {
  VisionEncoderConfig c{.depth = 27,
                        .hidden_size = 1152,
                        .num_heads = 16,
                        .intermediate_size = 4304,
                        .in_channels = 3,
                        .patch_size = 16,
                        .temporal_patch_size = 2,
                        .spatial_merge_size = 2,
                        .out_hidden_size = 2048,
                        .num_position_embeddings = 2304,
                        .deepstack_visual_indexes = {8, 16, 24}};
  const int64_t largest = 12845056 / 256;  // patches of the processor's largest frame
  const uint64_t bytes = VisionEncoderActivations::BytesFor(c, largest, 2);
  EXPECT_LT(bytes, uint64_t{1250} << 20);
  EXPECT_GT(bytes, uint64_t{1000} << 20);
  const uint64_t before = MemoryLedger::Global().current(MemoryKind::kActivations);
  {
    VisionEncoderActivations act;
    act.Reserve(c, 44 * 80, 2);  // 1280×720 → 1280×704
    EXPECT_EQ(act.bytes(), VisionEncoderActivations::BytesFor(c, 44 * 80, 2));
    EXPECT_EQ(MemoryLedger::Global().current(MemoryKind::kActivations), before + act.bytes());
  }
  EXPECT_EQ(MemoryLedger::Global().current(MemoryKind::kActivations), before);
}

TEST_F(VisionEncoderTest, BadGridsAreRefused) {
  const std::vector<float> p = Synthetic(1, 24);
  VisionFeatures out;
  Status s = encoder_->Encode(p.data(), 24, {{1, 3, 8}}, nullptr, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("merge size"), std::string::npos) << s.ToString();
  s = encoder_->Encode(p.data(), 24, {{1, 4, 4}}, nullptr, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("16 patches but 24"), std::string::npos) << s.ToString();
}

TEST_F(VisionEncoderTest, BadConfigIsRefused) {
  VisionEncoderConfig c = config_.vision;
  c.deepstack_visual_indexes = {0, 5};
  auto e = VisionEncoder::Load(*source_, c);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("deepstack_visual_indexes holds 5"), std::string::npos);
  c = config_.vision;
  c.num_position_embeddings = 60;
  e = VisionEncoder::Load(*source_, c);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("not a square"), std::string::npos);
  c = config_.vision;
  c.hidden_size = 48;  // the checkpoint's tensors are 32 wide
  e = VisionEncoder::Load(*source_, c);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("thinker.visual."), std::string::npos)
      << e.status().ToString();
}

}  // namespace
}  // namespace omnisage

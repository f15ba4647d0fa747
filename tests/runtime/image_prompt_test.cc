// Prompts with images, end to end, against transformers' Qwen3-Omni thinker on the same generated
// weights (tests/golden/vision/thinker, from tools/reference/make_vision_encoder_golden.py on
// `synth --preset tiny --seed 0`): the ChatML text is tokenized, each <|image_pad|> expanded, the
// PNG files decoded, resized and patchified, encoded by the vision encoder, the final merger's
// rows placed and the deepstack features added after the first decoder layers, the positions
// computed — every step OmniSage's own — against the reference's processor and thinker.
//
// Checked: the expanded ids, the argmax at every position, the logits of the last positions and
// 16 greedy tokens. The logit bound is the text and audio goldens' 1e-4 (logits of magnitude ~5,
// 2e-5 relative): both sides compute the same float32 function of the same bf16 weights, the
// pixel values are bit-identical (image_processor_test.cc) and the vision encoder's outputs agree
// to 2.5e-6 (vision_encoder_test.cc); the largest logit difference measured is recorded as
// max_abs_diff. Dropping the deepstack features alone moves the logits by far more than the bound
// (DeepstackMatters).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../audio/test_clips.h"
#include "media/image_file.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const std::string kGolden = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/";
const std::string kDir = kGolden + "thinker/";

nlohmann::json Meta() {
  std::ifstream f(kDir + "meta.json");
  return nlohmann::json::parse(f);
}

class ImagePromptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        fmt::format("omnisage_image_prompt_{}", getpid()));
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

  Prompt PromptOf(const nlohmann::json& meta, const std::string& name) {
    const nlohmann::json& c = meta["cases"][name];
    Prompt p;
    p.ids = engine_->tokenizer()->Encode(c["text"].get<std::string>());
    for (const auto& file : c["images"]) {
      auto image = LoadImage(kGolden + file.get<std::string>());
      EXPECT_TRUE(image.ok()) << image.status().ToString();
      if (image.ok()) p.images.push_back({file.get<std::string>(), std::move(*image)});
    }
    for (const auto& clip : c["clips"]) {
      p.audio.push_back({fmt::format("clip{}", clip[0].get<int>()),
                         testing::TestClip(clip[0].get<uint32_t>(), clip[1].get<int64_t>())});
    }
    return p;
  }

  static fs::path* dir_;
  std::unique_ptr<Engine> engine_;
};
fs::path* ImagePromptTest::dir_ = nullptr;

double MaxDiffLast(const std::vector<float>& logits, const std::vector<float>& want, int64_t n,
                   int64_t last, int64_t vocab) {
  double d = 0;
  for (int64_t i = 0; i < last * vocab; ++i) {
    d = std::max<double>(d, std::fabs(logits[(n - last) * vocab + i] - want[i]));
  }
  return d;
}

class ImagePromptGoldenTest : public ImagePromptTest,
                              public ::testing::WithParamInterface<std::string> {};

TEST_P(ImagePromptGoldenTest, LogitsMatchTransformers) {
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
  const double max_diff = MaxDiffLast(*logits, want, n, last, vocab);
  EXPECT_LT(max_diff, 1e-4);
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", max_diff));
}

TEST_P(ImagePromptGoldenTest, GreedyContinuationIsIdentical) {
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

// The server's path: Start (the prefill) and StepBatch (the decode steps, here beside a text
// session) give an image prompt transformers' greedy tokens too — the visual rows, deepstack
// features and moved positions go through Start as through Generate.
TEST_P(ImagePromptGoldenTest, StartAndStepBatchGiveTheSameTokens) {
  const nlohmann::json meta = Meta();
  const auto expected = meta["cases"][GetParam()]["greedy"].get<std::vector<int32_t>>();
  Session media(engine_.get()), text(engine_.get());
  GenerateStats stats;
  auto first = media.Start(PromptOf(meta, GetParam()), GenerateOptions{}, &stats);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Prompt hello;
  hello.ids = engine_->tokenizer()->Encode("hello there");
  ASSERT_TRUE(text.Start(hello, GenerateOptions{}, &stats).ok());
  std::vector<int32_t> got = {*first};
  while (got.size() < expected.size()) {
    std::vector<int32_t> next;
    ASSERT_TRUE(Session::StepBatch({&media, &text}, &next).ok());
    got.push_back(next[0]);
  }
  EXPECT_EQ(got, expected);
}

INSTANTIATE_TEST_SUITE_P(Tiny, ImagePromptGoldenTest,
                         ::testing::Values("image", "two_images", "audio_image"));

// The deepstack features are part of the answer: the same prompt without them (visual rows
// placed, nothing added after the first layers) is far outside the bound.
TEST_F(ImagePromptTest, DeepstackMatters) {
  const nlohmann::json meta = Meta();
  auto prepared = PreparePrompt(*engine_, {}, PromptOf(meta, "image"), 0, 256);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  const int64_t n = static_cast<int64_t>(prepared->ids.size()), vocab = 4096;
  auto run = [&](bool deepstack) {
    MediaInputs m{prepared->positions.thw.data(), nullptr, 0};
    m.visual = prepared->visual.embeds.data();
    m.visual_rows = prepared->visual.tokens;
    if (deepstack) {
      m.deepstack = prepared->visual.deepstack.data();
      m.deepstack_levels = prepared->visual.levels;
    }
    KvCache cache = engine_->model().NewCache(n);
    std::vector<float> logits(n * vocab);
    EXPECT_TRUE(
        engine_->model()
            .Forward(prepared->ids.data(), n, &cache, true, logits.data(), &engine_->pool(), &m)
            .ok());
    return logits;
  };
  const std::vector<float> with = run(true), without = run(false);
  std::vector<float> want(6 * vocab);
  std::ifstream bin(kDir + "image.f32", std::ios::binary);
  bin.read(reinterpret_cast<char*>(want.data()), want.size() * sizeof(float));
  EXPECT_LT(MaxDiffLast(with, want, n, 6, vocab), 1e-4);
  EXPECT_GT(MaxDiffLast(without, want, n, 6, vocab), 1e-2);
}

TEST_F(ImagePromptTest, PlaceholderCountMustMatchTheImages) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "image");
  p.images.push_back(p.images[0]);
  Session session(engine_.get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1 image placeholders"), std::string::npos)
      << r.status().message();
}

TEST_F(ImagePromptTest, AnImageLargerThanTheContextIsRefusedNamingIt) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "image");
  DecodedImage big{.width = 640, .height = 480, .rgb = std::vector<uint8_t>(640 * 480 * 3, 90)};
  p.images[0] = {"big.png", big};  // 20 × 15 merged = 300 tokens, context 256
  Session session(engine_.get());
  auto r = session.Generate(p, {}, [&](int32_t) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("big.png (640×480, 300 tokens)"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(session.history().empty());  // nothing fed
}

// A very large image (within PIL's pixel limit) is refused from its size alone, before any resize
// or encoder work: 4000×3000 resizes to 4000×3008, 11,750 tokens, far beyond the context.
TEST_F(ImagePromptTest, AVeryLargeImageIsRefusedBeforeAnyPixelWork) {
  const nlohmann::json meta = Meta();
  Prompt p = PromptOf(meta, "image");
  DecodedImage huge{.width = 4000, .height = 3000};  // no pixels: none may be read
  p.images[0] = {"huge.jpg", huge};
  Session session(engine_.get());
  auto r = session.EvalAll(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("huge.jpg (4000×3000, "), std::string::npos)
      << r.status().message();
}

// The encoder is loaded on first use and charged to the ledger; text alone never loads it.
TEST_F(ImagePromptTest, EncoderLoadsOnFirstImage) {
  Session session(engine_.get());
  Prompt text;
  text.ids = engine_->tokenizer()->Encode("<|im_start|>user\nhi<|im_end|>\n");
  ASSERT_TRUE(session.EvalAll(text).ok());
  EXPECT_EQ(engine_->loaded_vision_encoder(), nullptr);
  const nlohmann::json meta = Meta();
  ASSERT_TRUE(session.EvalAll(PromptOf(meta, "image")).ok());
  ASSERT_NE(engine_->loaded_vision_encoder(), nullptr);
  EXPECT_GT(engine_->loaded_vision_encoder()->weight_bytes(), 0u);
  EXPECT_GT(engine_->loaded_vision_encoder()->activations().bytes(), 0u);
}

}  // namespace
}  // namespace omnisage

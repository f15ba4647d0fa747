// Whole-model golden tests: the engine against HF transformers on the same generated weights.
//
// Fixtures (tests/golden/text/*) come from tools/reference/make_golden.py, which runs the
// reference implementation in float32 on `synth --preset tiny --seed 0` weights. The engine uses
// the same bf16 weights with float32 activations, so the two compute the same function and differ
// only in summation order and libm: the bound below (1e-4 absolute on logits of magnitude ~5, i.e.
// 2e-5 relative) leaves ~40x headroom over the 2.4e-6 measured when the fixtures were made, and
// is still far below any change in a weight's last bf16 bit (~4e-3 relative).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

struct Golden {
  nlohmann::json meta;
  std::vector<float> logits;
};

Golden ReadGolden(const std::string& name) {
  const std::string dir = ::omnisage::test_paths::SourceDir() + "/tests/golden/text/" + name;
  Golden g;
  std::ifstream meta(dir + "/meta.json");
  g.meta = nlohmann::json::parse(meta);
  std::ifstream bin(dir + "/logits.f32", std::ios::binary);
  const auto shape = g.meta["logits_shape"].get<std::vector<int64_t>>();
  g.logits.resize(shape[0] * shape[1]);
  bin.read(reinterpret_cast<char*>(g.logits.data()), g.logits.size() * sizeof(float));
  EXPECT_TRUE(bin.good()) << dir;
  return g;
}

class GoldenTest : public ::testing::TestWithParam<std::pair<std::string, Arch>> {
 protected:
  void SetUp() override {
    // ctest runs each test in its own process, in parallel: one directory per test and process.
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("omnisage_golden_{}_{}",
                       ::testing::UnitTest::GetInstance()->current_test_info()->name(), getpid());
    fs::remove_all(dir_);
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = GetParam().second;
    o.seed = 0;
    o.out_dir = dir_.string();
    o.tokenizer_dir = ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer";
    o.progress = false;
    ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
    auto engine = Engine::Load({.model = dir_.string(), .threads = 2, .context = 128});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(GoldenTest, LogitsAtEveryPositionMatchTransformers) {
  const Golden g = ReadGolden(GetParam().first);
  const auto ids = g.meta["input_ids"].get<std::vector<int32_t>>();
  Session session(engine_.get());
  auto logits = session.EvalAll(ids);
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  ASSERT_EQ(logits->size(), g.logits.size());
  double max_diff = 0;
  for (size_t i = 0; i < g.logits.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>((*logits)[i]) - g.logits[i]));
  }
  EXPECT_LT(max_diff, 1e-4);
  RecordProperty("max_abs_diff", std::to_string(max_diff));
}

TEST_P(GoldenTest, GreedyContinuationIsIdentical) {
  const Golden g = ReadGolden(GetParam().first);
  const auto prompt = g.meta["greedy_prompt"].get<std::vector<int32_t>>();
  const auto expected = g.meta["greedy_ids"].get<std::vector<int32_t>>();
  Session session(engine_.get());
  std::vector<int32_t> got;
  GenerateOptions opts;
  opts.max_tokens = static_cast<int>(expected.size());
  auto stats = session.Generate(prompt, opts, [&](int32_t id) {
    got.push_back(id);
    return true;
  });
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(got, expected);
}

// Prefill in one batch and token-by-token decode must agree (KV cache, positions).
TEST_P(GoldenTest, IncrementalDecodeMatchesBatchedPrefill) {
  const Golden g = ReadGolden(GetParam().first);
  const auto ids = g.meta["input_ids"].get<std::vector<int32_t>>();
  TextModel& model = engine_->model();
  const int64_t vocab = model.vocab_size();
  KvCache cache = model.NewCache(64);
  std::vector<float> logits(vocab);
  for (size_t t = 0; t < ids.size(); ++t) {
    ASSERT_TRUE(model.Forward(&ids[t], 1, &cache, false, logits.data(), &engine_->pool()).ok());
    for (int64_t v = 0; v < vocab; ++v) {
      ASSERT_NEAR(logits[v], g.logits[t * vocab + v], 1e-4) << "position " << t << " id " << v;
    }
  }
}

// Text given explicit (i, i, i) rotary positions (the multimodal path) runs bit-identically to the
// text path's running index.
TEST_P(GoldenTest, ExplicitTextPositionsAreBitIdentical) {
  const Golden g = ReadGolden(GetParam().first);
  const auto ids = g.meta["input_ids"].get<std::vector<int32_t>>();
  TextModel& model = engine_->model();
  const int64_t n = static_cast<int64_t>(ids.size()), vocab = model.vocab_size();
  std::vector<float> plain(n * vocab), explicit_positions(n * vocab), thw(3 * n);
  for (int64_t i = 0; i < 3 * n; ++i) thw[i] = static_cast<float>(i / 3);
  KvCache a = model.NewCache(64), b = model.NewCache(64);
  ASSERT_TRUE(model.Forward(ids.data(), n, &a, true, plain.data(), &engine_->pool()).ok());
  MediaInputs media;
  media.positions = thw.data();
  ASSERT_TRUE(
      model.Forward(ids.data(), n, &b, true, explicit_positions.data(), &engine_->pool(), &media)
          .ok());
  EXPECT_EQ(0, std::memcmp(plain.data(), explicit_positions.data(), plain.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Tiny, GoldenTest,
                         ::testing::Values(std::pair{"qwen3_omni_moe_tiny", Arch::kQwen3OmniMoe},
                                           std::pair{"qwen3_moe_tiny", Arch::kQwen3Moe}),
                         [](const auto& info) { return info.param.first; });

}  // namespace
}  // namespace omnisage

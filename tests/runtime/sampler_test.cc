#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace omnisage {
namespace {

TEST(SamplerTest, GreedyIsArgmax) {
  Sampler s({});
  std::vector<float> logits = {0.1f, 3.0f, -1.0f, 2.9f};
  EXPECT_EQ(s.Sample(logits.data(), 4, {}), 1);
}

TEST(SamplerTest, GreedyTieTakesTheLowestId) {
  Sampler s({});
  std::vector<float> logits = {1.0f, 5.0f, 5.0f};
  EXPECT_EQ(s.Sample(logits.data(), 3, {}), 1);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  Sampler s({.repetition_penalty = 2.0f});
  std::vector<float> logits = {3.0f, 2.0f, -1.0f};
  // Token 0 was seen (twice: penalised once): 3 / 2 = 1.5 < 2, so greedy picks token 1.
  EXPECT_EQ(s.Sample(logits.data(), 3, {0, 0, 2}), 1);
  EXPECT_FLOAT_EQ(logits[0], 1.5f);
  EXPECT_FLOAT_EQ(logits[2], -2.0f);
}

TEST(SamplerTest, SameSeedSameDraws) {
  std::vector<int32_t> a, b;
  for (auto* out : {&a, &b}) {
    Sampler s({.temperature = 1.0f, .seed = 42});
    for (int i = 0; i < 50; ++i) {
      std::vector<float> logits = {0.0f, 0.5f, 1.0f, 0.2f};
      out->push_back(s.Sample(logits.data(), 4, {}));
    }
  }
  EXPECT_EQ(a, b);
}

// Draws many samples and returns the frequency of each id.
std::map<int32_t, double> Frequencies(const SamplerOptions& o, std::vector<float> base, int n) {
  Sampler s(o);
  std::map<int32_t, double> f;
  for (int i = 0; i < n; ++i) {
    std::vector<float> logits = base;
    f[s.Sample(logits.data(), static_cast<int64_t>(logits.size()), {})] += 1.0 / n;
  }
  return f;
}

TEST(SamplerTest, TemperatureOneFollowsSoftmax) {
  // softmax(log p) = p.
  auto f = Frequencies({.temperature = 1.0f, .seed = 1},
                       {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 20000);
  EXPECT_NEAR(f[0], 0.5, 0.02);
  EXPECT_NEAR(f[1], 0.3, 0.02);
  EXPECT_NEAR(f[2], 0.2, 0.02);
}

TEST(SamplerTest, TopKKeepsOnlyTheBest) {
  auto f =
      Frequencies({.temperature = 1.0f, .top_k = 2, .seed = 2}, {0.0f, 1.0f, 0.9f, 0.8f}, 5000);
  EXPECT_EQ(f.count(0), 0u);
  EXPECT_EQ(f.count(3), 0u);
  EXPECT_GT(f[1], 0.4);
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  // p = 0.5, 0.3, 0.2: top_p 0.7 keeps {0, 1} (0.5 < 0.7 <= 0.8).
  auto f = Frequencies({.temperature = 1.0f, .top_p = 0.7f, .seed = 3},
                       {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 10000);
  EXPECT_EQ(f.count(2), 0u);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.03);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  // min_p 0.5 of the top probability 0.5 drops everything below 0.25.
  auto f = Frequencies({.temperature = 1.0f, .min_p = 0.5f, .seed = 4},
                       {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 10000);
  EXPECT_EQ(f.count(2), 0u);
  EXPECT_GT(f[1], 0.3);
}

TEST(SamplerTest, LowTemperatureSharpens) {
  auto f = Frequencies({.temperature = 0.05f, .seed = 5}, {0.0f, 1.0f, 0.5f}, 2000);
  EXPECT_GT(f[1], 0.99);
}

}  // namespace
}  // namespace omnisage

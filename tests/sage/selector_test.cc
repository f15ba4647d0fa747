// SageSelector: exact (SelectTopK) whenever the signals do not tell experts apart; resident and
// trusted experts displace close rivals, not distant ones; the metabolic state sets k.
#include "sage/selector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace omnisage {
namespace {

std::vector<float> Softmax(const std::vector<float>& logits) {
  std::vector<float> p(logits.size());
  const float max = *std::max_element(logits.begin(), logits.end());
  float sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] - max);
  for (float& x : p) x /= sum;
  return p;
}

struct Choice {
  std::vector<int32_t> experts;
  std::vector<float> weights;
  friend bool operator==(const Choice&, const Choice&) = default;
};

Choice Choose(ExpertSelector& s, int layer, const std::vector<float>& p, int k, bool norm) {
  const int n = static_cast<int>(p.size());
  Choice c{std::vector<int32_t>(n), std::vector<float>(n)};
  const int m = s.Select(layer, 0, p.data(), n, k, norm, c.experts.data(), c.weights.data());
  c.experts.resize(m);
  c.weights.resize(m);
  return c;
}

Choice Exact(const std::vector<float>& p, int k, bool norm) {
  const int n = static_cast<int>(p.size());
  Choice c{std::vector<int32_t>(n), std::vector<float>(n)};
  const int m = SelectTopK(p.data(), n, k, norm, c.experts.data(), c.weights.data());
  c.experts.resize(m);
  c.weights.resize(m);
  return c;
}

TEST(SageSelectorTest, NeutralSignalsGiveExactlyTheTopK) {
  TrustTable trust;  // no records: 0.5 each
  SalienceTracker salience({.num_experts = 128, .top_k = 8});
  SageSelector selector(Component::kThinker, &trust, &salience, /*states=*/nullptr);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> logits(128);
    for (float& x : logits) x = normal(rng);
    if (trial % 10 == 0) logits[5] = logits[9] = logits[77];  // exact ties
    if (trial % 10 == 1) std::fill(logits.begin(), logits.end(), 0.0f);
    const std::vector<float> p = Softmax(logits);
    for (bool norm : {true, false}) {
      EXPECT_EQ(Choose(selector, trial % 48, p, 8, norm), Exact(p, 8, norm)) << trial;
    }
    // Per-token salience changes every score alike: still exact.
    std::vector<int32_t> chosen = Exact(p, 8, true).experts;
    std::vector<float> w(8, 0.125f);
    salience.OnRouting({0, 0, trial, p.data(), chosen.data(), w.data(), 8});
    salience.OnSampledProbability(0.001 * (trial + 1), 151936);
    salience.EndToken();
  }
  EXPECT_GT(salience.last().surprise * salience.last().novelty, 0.0);
  EXPECT_EQ(selector.counters().decisions, 400);
  EXPECT_EQ(selector.counters().chosen, 3200);
  EXPECT_EQ(selector.counters().swapped, 0);
  EXPECT_EQ(selector.counters().outside_model_topk, 0);
}

TEST(SageSelectorTest, UniformResidencyAndUniformTrustAreExactToo) {
  TrustTable trust;
  // Every expert of layer 0 with the same record.
  const std::vector<float> y = {1, 2}, combined = {1, 2};
  for (int e = 0; e < 16; ++e) {
    for (int i = 0; i < 3; ++i) {
      trust.Observe(ExpertKey{Component::kThinker, 0, e}.Pack(),
                    {0, 0, e, 0.5f, y.data(), combined.data(), 2});
    }
  }
  SageSelector selector(Component::kThinker, &trust, nullptr, nullptr,
                        [](int, int) { return true; });
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(16);
    for (float& x : logits) x = uniform(rng);
    const std::vector<float> p = Softmax(logits);
    EXPECT_EQ(Choose(selector, 0, p, 4, true), Exact(p, 4, true));
  }
}

// k = 2 of 8: experts 0 (0.4) and 1 (0.2) are the router's choice; 2 (0.18) is a close rival,
// 3 (0.05) a distant one.
const std::vector<float> kProbs = {0.4f, 0.2f, 0.18f, 0.05f, 0.05f, 0.05f, 0.05f, 0.02f};

TEST(SageSelectorTest, ResidentExpertDisplacesACloseRival) {
  std::set<int> resident = {0, 2, 3};
  SageSelector selector(Component::kThinker, nullptr, nullptr, nullptr,
                        [&](int layer, int e) { return resident.count(e) > 0; });
  Choice c = Choose(selector, 0, kProbs, 2, true);
  // Every score has 0.1 from neutral SNARC (0.2 · 0.5 · 0.5) and neutral trust (0.2 · 0.5 · 0.5).
  // Expert 1: 0.5 · 0.5 = 0.25; expert 2: 0.5 · 0.45 + 0.1 = 0.325 (+ 0.1). Expert 3
  // (0.5 · 0.125 + 0.1 = 0.1625, + 0.1) stays out.
  EXPECT_EQ(c.experts, (std::vector<int32_t>{0, 2}));
  EXPECT_FLOAT_EQ(c.weights[0], 0.4f / 0.58f);
  EXPECT_FLOAT_EQ(c.weights[1], 0.18f / 0.58f);
  EXPECT_NEAR(selector.last_scores()[2], 0.425, 1e-6);
  EXPECT_EQ(selector.counters().swapped, 1);
  EXPECT_EQ(selector.counters().outside_model_topk, 1);
  // Unnormalised weights are the raw probabilities.
  c = Choose(selector, 0, kProbs, 2, false);
  EXPECT_FLOAT_EQ(c.weights[1], 0.18f);
}

TEST(SageSelectorTest, TrustedExpertDisplacesACloseRivalWhenRewarded) {
  TrustTable trust;
  const std::vector<float> combined = {1, 0}, same = {1, 0}, opposite = {-1, 0};
  for (int i = 0; i < 4; ++i) {
    // Expert 2 agrees with its layer at a constant share: trust 0.9.
    trust.Observe(ExpertKey{Component::kThinker, 5, 2}.Pack(),
                  {5, i, 2, 0.5f, same.data(), combined.data(), 2});
    // Expert 1 points the other way at a varying share: trust < 0.5.
    trust.Observe(ExpertKey{Component::kThinker, 5, 1}.Pack(),
                  {5, i, 1, i % 2 ? 0.1f : 0.9f, opposite.data(), combined.data(), 2});
  }
  const uint64_t key1 = ExpertKey{Component::kThinker, 5, 1}.Pack();
  EXPECT_LT(trust.Trust(key1), 0.5);
  SalienceTracker salience({.num_experts = 8, .top_k = 2});
  SageSelector selector(Component::kThinker, &trust, &salience, nullptr);
  // Neutral reward: expert 2 gains 0.2 · 0.5 · (0.9 − t1) ≈ 0.056 on expert 1, more than its
  // router deficit 0.5 · (0.2 − 0.18) / 0.4 = 0.025.
  EXPECT_EQ(Choose(selector, 5, kProbs, 2, true).experts, (std::vector<int32_t>{0, 2}));
  // Another layer has no records: exact.
  EXPECT_EQ(Choose(selector, 6, kProbs, 2, true).experts, (std::vector<int32_t>{0, 1}));
  // Reward −1 (mapped 0) switches trust off: exact again.
  salience.SetReward(-1.0);
  salience.EndToken();
  EXPECT_EQ(Choose(selector, 5, kProbs, 2, true).experts, (std::vector<int32_t>{0, 1}));
  // At reward +1 a trusted but distant expert 3 (0.0625 + 0.2 · 0.9 = 0.2425) stays below even
  // the distrusted expert 1 (0.25 + 0.2 · t1 ≈ 0.319); the per-token term adds to both.
  salience.SetReward(1.0);
  salience.EndToken();
  for (int i = 0; i < 4; ++i) {
    trust.Observe(ExpertKey{Component::kThinker, 5, 3}.Pack(),
                  {5, i, 3, 0.5f, same.data(), combined.data(), 2});
  }
  EXPECT_EQ(Choose(selector, 5, kProbs, 2, true).experts, (std::vector<int32_t>{0, 2}));
  EXPECT_GT(selector.last_scores()[1], selector.last_scores()[3]);
}

TEST(SageSelectorTest, TheMetabolicStateSetsK) {
  StateMachine states;
  SageSelector selector(Component::kThinker, nullptr, nullptr, &states);
  std::vector<float> logits(128);
  for (int i = 0; i < 128; ++i) logits[i] = std::sin(i * 1.7f) * 3.0f;
  const std::vector<float> p = Softmax(logits);
  states.Pin(MetabolicState::kWake);
  EXPECT_EQ(Choose(selector, 0, p, 8, true), Exact(p, 4, true));
  states.Pin(MetabolicState::kFocus);
  EXPECT_EQ(Choose(selector, 0, p, 8, true), Exact(p, 8, true));
  states.Pin(MetabolicState::kCrisis);
  EXPECT_EQ(Choose(selector, 0, p, 8, true), Exact(p, 16, true));
  const SageSelectorCounters& c = selector.counters();
  EXPECT_EQ(c.tokens, 3);
  EXPECT_EQ(c.decisions, 3);
  EXPECT_EQ(c.chosen, 4 + 8 + 16);
  EXPECT_EQ(c.model_k, 24);
  EXPECT_EQ(c.swapped, 0);
  EXPECT_EQ(c.outside_model_topk, 8);  // CRISIS's extra eight
}

}  // namespace
}  // namespace omnisage

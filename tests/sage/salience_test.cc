// SNARC salience: each component on hand-made routing and logits, prefill batches, the EMA.
#include "sage/salience.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace omnisage {
namespace {

constexpr int kExperts = 8;
constexpr int kTopK = 2;

SalienceTracker NewTracker(int window = 16) {
  return SalienceTracker({.num_experts = kExperts, .top_k = kTopK, .window = window});
}

// Routes one token in one layer: router softmax `probs`, chosen `experts`.
void Route(SalienceTracker& s, int layer, int64_t position, const std::vector<float>& probs,
           const std::vector<int32_t>& experts) {
  std::vector<float> weights(experts.size(), 1.0f / experts.size());
  s.OnRouting({layer, 0, position, probs.data(), experts.data(), weights.data(),
               static_cast<int>(experts.size())});
}

const std::vector<float> kUniform(kExperts, 1.0f / kExperts);
const std::vector<float> kOneHot = {0, 0, 1, 0, 0, 0, 0, 0};

TEST(SalienceTest, ArousalIsOneForAUniformRouterAndZeroForAOneHotOne) {
  SalienceTracker s = NewTracker();
  Route(s, 0, 0, kUniform, {0, 1});
  s.EndToken();
  EXPECT_NEAR(s.last().arousal, 1.0, 1e-6);
  Route(s, 0, 1, kOneHot, {2, 0});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().arousal, 0.0);
  // The mean over layers.
  Route(s, 0, 2, kUniform, {0, 1});
  Route(s, 1, 2, kOneHot, {2, 0});
  s.EndToken();
  EXPECT_NEAR(s.last().arousal, 0.5, 1e-6);
}

TEST(SalienceTest, ConflictIsOneWhenTheKthAndNextTie) {
  SalienceTracker s = NewTracker();
  // k = 2: the 2nd and 3rd largest tie.
  Route(s, 0, 0, {0.4f, 0.2f, 0.2f, 0.1f, 0.1f, 0, 0, 0}, {0, 1});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().conflict, 1.0);
  Route(s, 0, 1, kUniform, {0, 1});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().conflict, 1.0);
  // Nothing beyond the top 2: no conflict.
  Route(s, 0, 2, {0.5f, 0, 0, 0.5f, 0, 0, 0, 0}, {0, 3});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().conflict, 0.0);
  // p_k = 0.4, p_{k+1} = 0.1: 1 − 0.3 / 0.4.
  Route(s, 0, 3, {0.5f, 0.4f, 0.1f, 0, 0, 0, 0, 0}, {0, 1});
  s.EndToken();
  EXPECT_NEAR(s.last().conflict, 0.25, 1e-6);
}

TEST(SalienceTest, RepeatedRoutingIsNotNovel) {
  SalienceTracker s = NewTracker();
  Route(s, 0, 0, kUniform, {3, 5});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().novelty, 1.0);  // no history
  Route(s, 0, 1, kUniform, {5, 3});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().novelty, 0.0);
  Route(s, 0, 2, kUniform, {3, 6});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().novelty, 0.5);
  // A second layer with a fresh history: mean of 0 (layer 0) and 1 (layer 1).
  Route(s, 0, 3, kUniform, {3, 6});
  Route(s, 1, 3, kUniform, {3, 6});
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().novelty, 0.5);
}

TEST(SalienceTest, NoveltyForgetsBeyondTheWindow) {
  SalienceTracker s = NewTracker(/*window=*/3);
  Route(s, 0, 0, kUniform, {0, 1});
  s.EndToken();
  for (int t = 1; t <= 3; ++t) {
    Route(s, 0, t, kUniform, {6, 7});
    s.EndToken();
  }
  Route(s, 0, 4, kUniform, {0, 1});  // last seen 4 tokens ago, window 3
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().novelty, 1.0);
}

TEST(SalienceTest, PrefillFinalisesEveryPositionInOrder) {
  SalienceTracker s = NewTracker();
  // Two tokens, two layers, reported layer by layer as the decoder does for a batch.
  Route(s, 0, 0, kUniform, {1, 2});
  Route(s, 0, 1, kUniform, {1, 2});
  Route(s, 1, 0, kOneHot, {2, 4});
  Route(s, 1, 1, kOneHot, {2, 4});
  s.EndToken();
  EXPECT_EQ(s.tokens(), 2);
  EXPECT_DOUBLE_EQ(s.last().novelty, 0.0);  // position 1 saw position 0's choices
  EXPECT_NEAR(s.last().arousal, 0.5, 1e-6);
}

TEST(SalienceTest, SurpriseIsNegativeLogProbabilityOverLogVocab) {
  SalienceTracker s = NewTracker();
  const std::vector<float> flat(1000, 0.0f);
  s.OnSampled(flat.data(), 1000, 17);  // p = 1 / vocab
  s.EndToken();
  EXPECT_NEAR(s.last().surprise, 1.0, 1e-9);
  std::vector<float> sure(1000, 0.0f);
  sure[3] = 50.0f;
  s.OnSampled(sure.data(), 1000, 3);
  s.EndToken();
  EXPECT_NEAR(s.last().surprise, 0.0, 1e-9);
  s.OnSampledProbability(0.01, 10000);  // log 100 / log 10000
  s.EndToken();
  EXPECT_NEAR(s.last().surprise, 0.5, 1e-12);
  s.EndToken();  // nothing sampled: neutral
  EXPECT_DOUBLE_EQ(s.last().surprise, 0.5);
}

TEST(SalienceTest, RewardIsMappedAndPersists) {
  SalienceTracker s = NewTracker();
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().reward, 0.5);
  s.SetReward(1.0);
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().reward, 1.0);
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().reward, 1.0);
  s.SetReward(-3.0);  // clamped to −1
  s.EndToken();
  EXPECT_DOUBLE_EQ(s.last().reward, 0.0);
}

TEST(SalienceTest, CombinedSalienceAndItsEma) {
  SalienceTracker s({.num_experts = kExperts, .top_k = kTopK, .window = 16, .ema_alpha = 0.5});
  EXPECT_EQ(s.tokens(), 0);
  EXPECT_DOUBLE_EQ(s.ema(), 0.0);
  // Uniform router (arousal 1, conflict 1), new experts (novelty 1), p = 1/V (surprise 1),
  // reward +1 (|1 − 0.5| · 2 = 1): salience 1.
  const std::vector<float> flat(100, 0.0f);
  s.SetReward(1.0);
  Route(s, 0, 0, kUniform, {0, 1});
  s.OnSampled(flat.data(), 100, 5);
  s.EndToken();
  EXPECT_NEAR(s.last().salience, 1.0, 1e-6);
  EXPECT_NEAR(s.ema(), 1.0, 1e-6);  // the first token sets it
  // Same experts (novelty 0), a one-hot router (arousal 0, conflict 0: p_k = 0), a certain token
  // (surprise 0) and neutral reward: salience 0.
  s.SetReward(0.0);  // r = 0: neutral
  std::vector<float> sure(100, 0.0f);
  sure[5] = 60.0f;
  Route(s, 0, 1, {1, 0, 0, 0, 0, 0, 0, 0}, {0, 1});
  s.OnSampled(sure.data(), 100, 5);
  s.EndToken();
  EXPECT_NEAR(s.last().salience, 0.0, 1e-6);
  EXPECT_NEAR(s.ema(), 0.5, 1e-6);
  Snarc n;
  EXPECT_DOUBLE_EQ(CombinedSalience(n), 0.4);  // neutral: four halves and no reward
}

}  // namespace
}  // namespace omnisage

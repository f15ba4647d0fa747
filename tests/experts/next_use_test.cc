// NextUseEstimator: the layer cycle (layers until an expert's layer runs again), the per-pass use
// probability with its bias correction and half-life, pending inserts, other components; and the
// cycle policy built on it against LRU and Belady on a cyclic trace.
#include "experts/next_use.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "experts/eviction_policy.h"
#include "experts/expert_key.h"
#include "experts/simulator.h"

namespace omnisage {
namespace {

uint64_t Key(int layer, int expert, Component c = Component::kThinker) {
  return ExpertKey{c, layer, expert}.Pack();
}

TEST(NextUseTest, CountsLayersUntilTheLayerRunsAgain) {
  NextUseEstimator n(8);
  for (int layer : {0, 1, 2}) n.OnAccess(Key(layer, 0));  // running layer 2 of 3
  EXPECT_DOUBLE_EQ(n.UseProbability(Key(0, 0)), 1.0);     // used in its only pass
  EXPECT_DOUBLE_EQ(n.NextUse(Key(0, 0)), 1.0);            // layer 0 runs next
  EXPECT_DOUBLE_EQ(n.NextUse(Key(1, 0)), 2.0);
  EXPECT_DOUBLE_EQ(n.NextUse(Key(2, 0)), 3.0);  // the running layer: a whole cycle away
  n.OnAccess(Key(0, 0));                        // the cycle turns
  EXPECT_DOUBLE_EQ(n.NextUse(Key(1, 0)), 1.0);
  EXPECT_DOUBLE_EQ(n.NextUse(Key(0, 0)), 3.0);
  EXPECT_EQ(n.NextUse(Key(1, 5)), NextUseEstimator::kNever);  // never seen
  EXPECT_EQ(n.UseProbability(Key(1, 5)), 0.0);
}

TEST(NextUseTest, ProbabilityIsABiasCorrectedAverageOverPasses) {
  const double half_life = 8, d = std::exp2(-1.0 / half_life);
  NextUseEstimator n(half_life);
  // Layer 0's passes alternate between expert 1 and expert 2 (layer 1 runs in between).
  n.OnAccess(Key(0, 1));
  n.OnAccess(Key(1, 0));
  n.OnAccess(Key(0, 2));
  n.OnAccess(Key(1, 0));
  // Expert 1: used, then not: (1 − d) · d / (1 − d²) = d / (1 + d).
  EXPECT_NEAR(n.UseProbability(Key(0, 1)), d / (1 + d), 1e-12);
  // Expert 2: first used in the second pass: (1 − d) / (1 − d²) = 1 / (1 + d).
  EXPECT_NEAR(n.UseProbability(Key(0, 2)), 1 / (1 + d), 1e-12);
  for (int i = 0; i < 200; ++i) {
    n.OnAccess(Key(0, 1 + i % 2));
    n.OnAccess(Key(1, 0));
  }
  EXPECT_NEAR(n.UseProbability(Key(0, 1)), 0.5, 0.05);
  EXPECT_NEAR(n.UseProbability(Key(0, 2)), 0.5, 0.05);
  EXPECT_NEAR(n.UseProbability(Key(1, 0)), 1.0, 1e-12);
  // Expected next use: 1 layer ahead plus, for p = ½, one whole cycle (2 layers) on average.
  EXPECT_NEAR(n.NextUse(Key(0, 1)),
              1 + 2 * (1 - n.UseProbability(Key(0, 1))) / n.UseProbability(Key(0, 1)), 1e-12);
  EXPECT_GT(n.NextUse(Key(0, 1)), n.NextUse(Key(1, 0)) - 1);  // 2-layer cycle: layer 1 at 2
}

TEST(NextUseTest, OldUseFadesWithTheHalfLife) {
  NextUseEstimator fast(2), slow(64);
  for (NextUseEstimator* n : {&fast, &slow}) {
    for (int i = 0; i < 20; ++i) {  // expert 1 in 20 passes, then expert 2 in 20
      n->OnAccess(Key(0, 1));
      n->OnAccess(Key(1, 0));
    }
    for (int i = 0; i < 20; ++i) {
      n->OnAccess(Key(0, 2));
      n->OnAccess(Key(1, 0));
    }
  }
  EXPECT_LT(fast.UseProbability(Key(0, 1)), 0.01);
  EXPECT_GT(slow.UseProbability(Key(0, 1)), 0.3);
  EXPECT_GT(fast.NextUse(Key(0, 1)), slow.NextUse(Key(0, 1)));
}

TEST(NextUseTest, AnInsertIsExpectedInItsLayersNextPassOnly) {
  NextUseEstimator n(8);
  n.OnAccess(Key(0, 0));
  n.OnAccess(Key(1, 0));
  n.OnAccess(Key(2, 0));
  n.OnAccess(Key(0, 0));  // running layer 0 of 3
  n.OnInsert(Key(1, 7));  // a prefetch for the next layer
  EXPECT_DOUBLE_EQ(n.NextUse(Key(1, 7)), 1.0);
  n.OnInsert(Key(0, 9));  // a load for the running layer
  EXPECT_DOUBLE_EQ(n.NextUse(Key(0, 9)), 0.0);
  n.OnAccess(Key(1, 0));  // layer 1's pass begins
  EXPECT_DOUBLE_EQ(n.NextUse(Key(1, 7)), 0.0);
  EXPECT_EQ(n.NextUse(Key(0, 9)), NextUseEstimator::kNever);  // its pass ended unused
  n.OnAccess(Key(2, 0));  // layer 1's pass ended without expert 7
  EXPECT_EQ(n.NextUse(Key(1, 7)), NextUseEstimator::kNever);
}

TEST(NextUseTest, AnotherComponentIsAWholeCycleAway) {
  NextUseEstimator n(8);
  for (int layer : {0, 1}) n.OnAccess(Key(layer, 0, Component::kTalker));
  for (int layer : {0, 1, 2, 3}) n.OnAccess(Key(layer, 0));
  EXPECT_DOUBLE_EQ(n.NextUse(Key(0, 0, Component::kTalker)), 2.0);  // the talker's 2 layers
  EXPECT_DOUBLE_EQ(n.NextUse(Key(0, 0)), 1.0);
}

// Four layers each using the same two experts every token, room for six: a cycle of eight that
// does not fit. LRU always evicts the expert wanted soonest and never hits; the cycle policy evicts
// from the layer that just ran and keeps hitting, within a tenth of Belady.
TEST(NextUseTest, CyclePolicyBeatsLruOnACycleThatDoesNotFit) {
  constexpr uint64_t kBytes = 100;
  Trace t;
  t.header.model = "test";
  t.header.total_expert_bytes = 4 * 8 * kBytes;
  t.header.components.push_back({Component::kThinker, 4, 8, 2, kBytes, {0, 1, 2, 3}});
  for (int64_t step = 0; step < 50; ++step) {
    for (int layer = 0; layer < 4; ++layer) {
      t.records.push_back({step, step, Component::kThinker, layer, {0, 1}, {0.5f, 0.5f}});
    }
  }
  auto run = [&](EvictionPolicy* p) {
    auto r = SimulateCache(t, 6 * kBytes, p, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->hits : 0;
  };
  auto lru = NewLruPolicy();
  auto cycle = NewCyclePolicy();
  const uint64_t belady = run(nullptr);
  EXPECT_EQ(run(lru.get()), 0u);
  EXPECT_GT(belady, 200u);                       // of 400 uses
  EXPECT_GE(run(cycle.get()), belady * 9 / 10);  // measured: 262 of Belady's 272
}

}  // namespace
}  // namespace omnisage

// Routing locality of a trace: reuse at the next token and within a window, computed by hand on
// small traces; sequences restart on a position that does not advance; skew of a layer's usage.
#include "experts/routing_locality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace omnisage {
namespace {

Trace Header(int experts, int k, int layers) {
  Trace t;
  t.header.model = "test";
  TraceComponent c{Component::kThinker, layers, experts, k, 100, {}};
  for (int l = 0; l < layers; ++l) c.moe_layers.push_back(l);
  t.header.components.push_back(c);
  return t;
}

void Add(Trace* t, int64_t pos, int layer, std::vector<int32_t> experts) {
  std::vector<float> w(experts.size(), 0.5f);
  t->records.push_back({pos, pos, Component::kThinker, layer, std::move(experts), std::move(w)});
}

TEST(RoutingLocality, ReuseAtTheNextTokenAndWithinTheWindow) {
  Trace t = Header(8, 2, 1);
  Add(&t, 0, 0, {0, 1});
  Add(&t, 1, 0, {1, 2});  // next: 1 of 2; window: 1 of 2
  Add(&t, 2, 0, {3, 4});  // next: 0;      window: 0
  Add(&t, 3, 0, {0, 3});  // next: 1 of 2 (3); window (W=2: {3,4},{1,2}): 1 of 2
  const RoutingLocality l = MeasureLocality(t, /*window=*/2);
  ASSERT_EQ(l.layers.size(), 1u);
  EXPECT_EQ(l.layers[0].tokens, 4);
  EXPECT_EQ(l.layers[0].with_predecessor, 3);
  EXPECT_DOUBLE_EQ(l.reuse_next, (0.5 + 0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(l.reuse_window, (0.5 + 0 + 0.5) / 3);
  // A window of 3 reaches token 0's expert 0 from token 3.
  const RoutingLocality wide = MeasureLocality(t, /*window=*/3);
  EXPECT_DOUBLE_EQ(wide.reuse_window, (0.5 + 0 + 1.0) / 3);
}

TEST(RoutingLocality, APositionThatDoesNotAdvanceStartsASequence) {
  Trace t = Header(8, 1, 1);
  Add(&t, 0, 0, {5});
  Add(&t, 1, 0, {5});  // reused
  Add(&t, 0, 0, {5});  // a new session: no predecessor
  Add(&t, 1, 0, {6});  // not reused
  const RoutingLocality l = MeasureLocality(t);
  EXPECT_EQ(l.layers[0].with_predecessor, 2);
  EXPECT_DOUBLE_EQ(l.reuse_next, 0.5);
}

TEST(RoutingLocality, SkewOfUniformAndOfConcentratedUsage) {
  Trace uniform = Header(10, 1, 1);
  for (int i = 0; i < 100; ++i) Add(&uniform, i, 0, {i % 10});
  const RoutingLocality u = MeasureLocality(uniform);
  EXPECT_DOUBLE_EQ(u.top_decile_share, 0.1);
  EXPECT_NEAR(u.usage_entropy, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(u.reuse_next, 0.0);

  Trace one = Header(10, 1, 1);
  for (int i = 0; i < 50; ++i) Add(&one, i, 0, {3});
  const RoutingLocality o = MeasureLocality(one);
  EXPECT_DOUBLE_EQ(o.top_decile_share, 1.0);
  EXPECT_DOUBLE_EQ(o.usage_entropy, 0.0);
  EXPECT_DOUBLE_EQ(o.reuse_next, 1.0);
}

TEST(RoutingLocality, LayersAreSeparateAndWeightedByTokens) {
  Trace t = Header(4, 1, 2);
  for (int i = 0; i < 4; ++i) {
    Add(&t, i, 0, {0});      // always reused
    Add(&t, i, 1, {i % 4});  // never reused
  }
  const RoutingLocality l = MeasureLocality(t);
  ASSERT_EQ(l.layers.size(), 2u);
  EXPECT_DOUBLE_EQ(l.layers[0].reuse_next, 1.0);
  EXPECT_DOUBLE_EQ(l.layers[1].reuse_next, 0.0);
  EXPECT_DOUBLE_EQ(l.reuse_next, 0.5);
}

}  // namespace
}  // namespace omnisage

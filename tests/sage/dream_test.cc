// DREAM: usage counters with decay, and a hot set chosen greedily within a byte limit.
#include "sage/dream.h"

#include <gtest/gtest.h>

#include <vector>

namespace omnisage {
namespace {

constexpr uint64_t kMiB = 1 << 20;

uint64_t Key(Component c, int layer, int expert) { return ExpertKey{c, layer, expert}.Pack(); }

DreamOptions Options(uint64_t limit, double decay = 0.5) {
  DreamOptions o;
  o.decay = decay;
  o.byte_limit = limit;
  o.expert_bytes = {{Component::kThinker, 9 * kMiB}, {Component::kTalker, 9 * kMiB / 4}};
  return o;
}

TEST(DreamTest, CountsUsesAndMeanWeightWithDecay) {
  TrustTable t;
  const std::vector<RoutingDecision> first = {
      {Component::kThinker, 0, {1, 2}, {0.75f, 0.25f}},
      {Component::kThinker, 0, {1, 3}, {0.25f, 0.75f}},
  };
  auto r = Dream(first, Options(100 * kMiB), &t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->decisions, 2);
  EXPECT_EQ(r->experts_used, 3);
  TrustRecord e1 = t.Get(Key(Component::kThinker, 0, 1));
  EXPECT_DOUBLE_EQ(e1.routed, 2.0);
  EXPECT_DOUBLE_EQ(e1.mean_weight, 0.5);
  EXPECT_EQ(e1.uses, 0u);  // live counters untouched
  // A second DREAM: old usage halves; expert 2 is not routed again and only decays.
  const std::vector<RoutingDecision> second = {{Component::kThinker, 0, {1}, {1.0f}}};
  ASSERT_TRUE(Dream(second, Options(100 * kMiB), &t).ok());
  e1 = t.Get(Key(Component::kThinker, 0, 1));
  EXPECT_DOUBLE_EQ(e1.routed, 2.0);                   // 0.5 · 2 + 1
  EXPECT_DOUBLE_EQ(e1.mean_weight, (0.5 + 1.0) / 2);  // (1 · 0.5 + 1) / 2
  const TrustRecord e2 = t.Get(Key(Component::kThinker, 0, 2));
  EXPECT_DOUBLE_EQ(e2.routed, 0.5);
  EXPECT_DOUBLE_EQ(e2.mean_weight, 0.25);
}

TEST(DreamTest, HotSetRespectsTheByteLimit) {
  TrustTable t;
  std::vector<RoutingDecision> d;
  // Thinker expert e of layer 0 routed 10 − e times at weight 0.5: score 5 − e / 2.
  for (int e = 0; e < 6; ++e) {
    for (int i = 0; i < 10 - e; ++i) d.push_back({Component::kThinker, 0, {e}, {0.5f}});
  }
  // A talker expert (2.25 MiB) with a small score.
  d.push_back({Component::kTalker, 3, {7}, {0.1f}});
  for (uint64_t limit : {uint64_t{0}, 8 * kMiB, 9 * kMiB, 30 * kMiB, 1000 * kMiB}) {
    auto r = Dream(d, Options(limit, /*decay=*/0.0), &t);
    ASSERT_TRUE(r.ok());
    EXPECT_LE(r->hot_bytes, limit);
    EXPECT_EQ(t.hot_set(), r->hot_set);
    uint64_t bytes = 0;
    for (uint64_t key : r->hot_set) {
      bytes += ExpertKey::Unpack(key).component == Component::kTalker ? 9 * kMiB / 4 : 9 * kMiB;
    }
    EXPECT_EQ(bytes, r->hot_bytes);
  }
  // 30 MiB: the three best thinker experts (27 MiB), then the talker expert fits in the rest.
  auto r = Dream(d, Options(30 * kMiB, 0.0), &t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hot_set,
            (std::vector<uint64_t>{Key(Component::kThinker, 0, 0), Key(Component::kThinker, 0, 1),
                                   Key(Component::kThinker, 0, 2), Key(Component::kTalker, 3, 7)}));
  EXPECT_EQ(r->hot_bytes, 27 * kMiB + 9 * kMiB / 4);
  // 8 MiB: no thinker expert fits, the talker one does.
  r = Dream(d, Options(8 * kMiB, 0.0), &t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hot_set, (std::vector<uint64_t>{Key(Component::kTalker, 3, 7)}));
  // Everything fits: all seven, best first.
  r = Dream(d, Options(1000 * kMiB, 0.0), &t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hot_set.size(), 7u);
  EXPECT_EQ(r->hot_set.front(), Key(Component::kThinker, 0, 0));
  EXPECT_EQ(r->hot_set.back(), Key(Component::kTalker, 3, 7));
}

TEST(DreamTest, BadInputChangesNothing) {
  TrustTable t;
  auto r = Dream({{Component::kThinker, 0, {1, 2}, {1.0f}}}, Options(kMiB), &t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decision 0: 2 experts but 1 weights"), std::string::npos);
  r = Dream({{Component::kVision, 0, {1}, {1.0f}}}, Options(kMiB), &t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no expert size for component 'vision'"), std::string::npos);
  r = Dream({{Component::kThinker, 0, {-1}, {1.0f}}}, Options(kMiB), &t);
  ASSERT_FALSE(r.ok());
  r = Dream({}, Options(kMiB, 1.5), &t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.hot_set().empty());
}

}  // namespace
}  // namespace omnisage

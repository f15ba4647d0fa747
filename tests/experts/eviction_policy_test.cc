// Eviction policies: LRU order, LFU frequencies per layer pass, aging, expected entries and ties,
// the trust-weighted score, pinning, and the name registry.
#include "experts/eviction_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "experts/expert_key.h"

namespace omnisage {
namespace {

const auto kAll = [](uint64_t) { return true; };

std::function<bool(uint64_t)> Except(std::set<uint64_t> pinned) {
  return [pinned](uint64_t k) { return pinned.count(k) == 0; };
}

TEST(EvictionPolicyTest, LruEvictsLeastRecentlyUsed) {
  auto p = NewLruPolicy();
  EXPECT_EQ(p->name(), "lru");
  EXPECT_EQ(p->Victim(kAll), std::nullopt);
  for (uint64_t k : {1, 2, 3}) {
    p->OnInsert(k, 100);
    p->OnAccess(k);
  }
  p->OnAccess(1);  // order now 2, 3, 1
  EXPECT_EQ(p->Victim(kAll), 2u);
  p->OnErase(2);
  EXPECT_EQ(p->Victim(kAll), 3u);
  p->OnAccess(3);  // order 1, 3
  EXPECT_EQ(p->Victim(kAll), 1u);
  p->OnErase(1);
  p->OnErase(3);
  EXPECT_EQ(p->Victim(kAll), std::nullopt);
}

TEST(EvictionPolicyTest, LruSkipsPinned) {
  auto p = NewLruPolicy();
  for (uint64_t k : {1, 2, 3}) {
    p->OnInsert(k, 100);
    p->OnAccess(k);
  }
  EXPECT_EQ(p->Victim(Except({1})), 2u);
  EXPECT_EQ(p->Victim(Except({1, 2})), 3u);
  EXPECT_EQ(p->Victim(Except({1, 2, 3})), std::nullopt);
}

uint64_t Key(int layer, int expert) { return ExpertKey{Component::kThinker, layer, expert}.Pack(); }

// One pass of `layer` using `experts` (a demand insert on first use), then layer 1 runs so that
// the pass is over.
void LayerZeroPass(EvictionPolicy* p, std::set<uint64_t>* resident, std::vector<int> experts) {
  for (int e : experts) {
    if (resident->insert(Key(0, e)).second) p->OnInsert(Key(0, e), 100);
    p->OnAccess(Key(0, e));
  }
  if (resident->insert(Key(1, 0)).second) p->OnInsert(Key(1, 0), 100);
  p->OnAccess(Key(1, 0));
}

TEST(EvictionPolicyTest, LfuEvictsLeastFrequentlyUsed) {
  auto p = NewLfuPolicy();
  EXPECT_EQ(p->name(), "lfu");
  std::set<uint64_t> resident;
  // Layer 0's passes: expert 1 in all four, 3 in two, 2 in one (the last: the most recent).
  for (std::vector<int> pass : {std::vector<int>{1, 3}, {1}, {1, 3}, {1, 2}}) {
    LayerZeroPass(p.get(), &resident, pass);
  }
  const uint64_t layer1 = Key(1, 0);
  EXPECT_EQ(p->Victim(Except({layer1})), Key(0, 2));
  EXPECT_EQ(p->Victim(Except({layer1, Key(0, 2)})), Key(0, 3));
  EXPECT_EQ(p->Victim(Except({layer1, Key(0, 2), Key(0, 3)})), Key(0, 1));
  EXPECT_EQ(p->Victim(Except({layer1, Key(0, 1), Key(0, 2), Key(0, 3)})), std::nullopt);
}

TEST(EvictionPolicyTest, LfuTiesGoToLeastRecentThenLowerKey) {
  auto p = NewLfuPolicy();
  std::set<uint64_t> resident;
  LayerZeroPass(p.get(), &resident, {0});
  // Two prefetches for layer 0 that its next pass does not use: equal (no) use, so the lower key.
  for (int e : {7, 4}) p->OnInsert(Key(0, e), 100);
  LayerZeroPass(p.get(), &resident, {0});
  EXPECT_EQ(p->Victim(Except({Key(1, 0)})), Key(0, 4));
  // Both used in the same pass: equal frequency, 4 used first is the less recent.
  LayerZeroPass(p.get(), &resident, {4, 7});
  EXPECT_EQ(p->Victim(Except({Key(0, 0), Key(1, 0)})), Key(0, 4));
}

TEST(EvictionPolicyTest, LfuAgingForgetsOldPopularity) {
  // A (expert 1) was used in layer 0's first 8 passes, then C (expert 3) in 40; B (expert 2)
  // arrives in the last pass.
  auto run = [](double half_life) {
    auto p = NewLfuPolicy(half_life);
    std::set<uint64_t> resident;
    for (int i = 0; i < 8; ++i) LayerZeroPass(p.get(), &resident, {1});
    for (int i = 0; i < 40; ++i) LayerZeroPass(p.get(), &resident, {3});
    LayerZeroPass(p.get(), &resident, {2, 3});
    return *p->Victim(Except({Key(0, 3), Key(1, 0)}));
  };
  EXPECT_EQ(run(1024), Key(0, 2));  // barely any decay: B's single use counts least
  EXPECT_EQ(run(4), Key(0, 1));     // A's eight uses have halved away
}

TEST(EvictionPolicyTest, LfuKeepsAnEntryItsNextPassExpects) {
  auto p = NewLfuPolicy();
  std::set<uint64_t> resident;
  for (int i = 0; i < 4; ++i) LayerZeroPass(p.get(), &resident, {1});
  p->OnInsert(Key(0, 5), 100);  // a prefetch for layer 0 while layer 1 runs
  EXPECT_EQ(p->Victim(Except({Key(1, 0)})), Key(0, 1));  // kept, though never used
  p->OnAccess(Key(0, 1));                                // layer 0's pass: still expected
  EXPECT_EQ(p->Victim(Except({Key(1, 0)})), Key(0, 1));
  p->OnAccess(Key(1, 0));  // the pass ended without it
  EXPECT_EQ(p->Victim(Except({Key(1, 0)})), Key(0, 5));
}

TEST(EvictionPolicyTest, LfuRemembersAnEvictedExpertsHistory) {
  auto p = NewLfuPolicy();
  std::set<uint64_t> resident;
  for (int i = 0; i < 5; ++i) LayerZeroPass(p.get(), &resident, {1});
  p->OnErase(Key(0, 1));
  resident.erase(Key(0, 1));
  LayerZeroPass(p.get(), &resident, {2});
  LayerZeroPass(p.get(), &resident, {1});  // back: five uses in six passes, not one
  EXPECT_EQ(p->Victim(Except({Key(1, 0)})), Key(0, 2));
}

// Layers 0, 1, 2 each use one expert in turn: layer 0 runs next, layer 2 (just run) last.
TEST(EvictionPolicyTest, TrustNeutralEvictsTheFarthestNextUse) {
  auto p = NewTrustPolicy(nullptr);
  EXPECT_EQ(p->name(), "trust");
  for (int layer : {0, 1, 2}) {
    p->OnInsert(Key(layer, 0), 100);
    p->OnAccess(Key(layer, 0));
  }
  EXPECT_EQ(p->Victim(kAll), Key(2, 0));  // LRU would give up Key(0, 0), wanted next
  EXPECT_EQ(p->Victim(Except({Key(2, 0)})), Key(1, 0));
}

// Entries of one layer inserted together and never used are equally far; trust and size decide.
TEST(EvictionPolicyTest, TrustPrefersLowConvergence) {
  auto p = NewTrustPolicy([](uint64_t k) {
    return k == 2 ? TrustView{0.2, 0.5} : TrustView{0.9, 0.5};
  });
  for (uint64_t k : {1, 2, 3}) p->OnInsert(k, 100);
  EXPECT_EQ(p->Victim(kAll), 2u);
  EXPECT_EQ(p->Victim(Except({2})), 1u);  // 1 and 3 tie: the lower key
}

TEST(EvictionPolicyTest, TrustPrefersLowStability) {
  auto p = NewTrustPolicy([](uint64_t k) {
    return k == 3 ? TrustView{0.5, 0.1} : TrustView{0.5, 0.9};
  });
  for (uint64_t k : {1, 2, 3}) p->OnInsert(k, 100);
  EXPECT_EQ(p->Victim(kAll), 3u);
}

TEST(EvictionPolicyTest, TrustPrefersLargerChargeWhenSizeIsWeighed) {
  auto p = NewTrustPolicy(nullptr, TrustWeights{0.4, 0.25, 0.25, 0.1});
  p->OnInsert(1, 50);
  p->OnInsert(2, 100);
  EXPECT_EQ(p->Victim(kAll), 2u);
  auto q = NewTrustPolicy(nullptr);  // the default weights leave size out: a tie, the lower key
  q->OnInsert(1, 50);
  q->OnInsert(2, 100);
  EXPECT_EQ(q->Victim(kAll), 1u);
}

// A, B, C of layers 0, 1, 2 used in turn: next uses 1, 2, 3 layers away (normalised 1/3, 2/3, 1).
// With weights 0.4/0.25/0.25/0.1:
//   A distrusted (0, 0): 0.4/3  + 0.25 + 0.25 + 0.1 = 0.733
//   B neutral:           0.8/3  + 0.125 + 0.125 + 0.1 = 0.617
//   C trusted (1, 1):    0.4    + 0    + 0    + 0.1 = 0.5
// so trust reverses the next-use order; with the default 0.8/0.1/0.1/0 next use wins
// (A 0.467, B 0.633, C 0.8).
TEST(EvictionPolicyTest, TrustWeighsNextUseAgainstTrust) {
  const uint64_t a = Key(0, 0), b = Key(1, 0), c = Key(2, 0);
  auto lookup = [&](uint64_t k) {
    if (k == a) return TrustView{0.0, 0.0};
    if (k == c) return TrustView{1.0, 1.0};
    return TrustView{};
  };
  auto trust_heavy = NewTrustPolicy(lookup, TrustWeights{0.4, 0.25, 0.25, 0.1});
  auto standard = NewTrustPolicy(lookup);
  for (EvictionPolicy* p : {trust_heavy.get(), standard.get()}) {
    for (uint64_t k : {a, b, c}) {
      p->OnInsert(k, 100);
      p->OnAccess(k);
    }
  }
  EXPECT_EQ(trust_heavy->Victim(kAll), a);
  EXPECT_EQ(trust_heavy->Victim(Except({a})), b);
  EXPECT_EQ(trust_heavy->Victim(Except({a, b})), c);
  EXPECT_EQ(standard->Victim(kAll), c);
  EXPECT_EQ(standard->Victim(Except({c})), b);
  EXPECT_EQ(standard->Victim(Except({a, b, c})), std::nullopt);
}

TEST(EvictionPolicyTest, TrustForgetsErasedEntries) {
  auto p = NewTrustPolicy(nullptr);
  for (uint64_t k : {1, 2}) {
    p->OnInsert(k, 100);
    p->OnAccess(k);
  }
  p->OnErase(1);
  EXPECT_EQ(p->Victim(kAll), 2u);
}

TEST(EvictionPolicyTest, NoPolicyChoosesAPinnedEntry) {
  for (const std::string& name : EvictionPolicyNames()) {
    auto p = NewEvictionPolicy(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (uint64_t k = 0; k < 16; ++k) {
      (*p)->OnInsert(k, 100 + k);
      for (uint64_t i = 0; i <= k % 3; ++i) (*p)->OnAccess(k);
    }
    for (uint64_t pin_mask = 0; pin_mask < (1u << 16); pin_mask += 997) {
      auto evictable = [&](uint64_t k) { return ((pin_mask >> k) & 1) == 0; };
      auto v = (*p)->Victim(evictable);
      if (pin_mask == 0xFFFF) {
        EXPECT_EQ(v, std::nullopt);
      } else {
        ASSERT_TRUE(v.has_value()) << name;
        EXPECT_TRUE(evictable(*v)) << name << " chose pinned " << *v;
      }
    }
    EXPECT_EQ((*p)->Victim([](uint64_t) { return false; }), std::nullopt) << name;
  }
}

TEST(EvictionPolicyTest, NamesAndFactory) {
  EXPECT_EQ(EvictionPolicyNames(), (std::vector<std::string>{"lru", "lfu", "cycle", "trust"}));
  for (const std::string& name : EvictionPolicyNames()) {
    auto p = NewEvictionPolicy(name);
    ASSERT_TRUE(p.ok()) << name;
    EXPECT_EQ((*p)->name(), name);
  }
}

TEST(EvictionPolicyTest, UnknownNameListsTheValidOnes) {
  auto p = NewEvictionPolicy("fifo");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = p.status().message();
  EXPECT_NE(m.find("'fifo'"), std::string::npos) << m;
  EXPECT_NE(m.find("lru, lfu, cycle, trust"), std::string::npos) << m;
}

TEST(EvictionPolicyTest, TrustLookupIsUsedByName) {
  std::map<uint64_t, int> asked;
  auto p = NewEvictionPolicy("trust", [&](uint64_t k) {
    ++asked[k];
    return k == 1 ? TrustView{0.0, 0.0} : TrustView{1.0, 1.0};
  });
  ASSERT_TRUE(p.ok());
  (*p)->OnInsert(1, 100);
  (*p)->OnInsert(2, 100);
  EXPECT_EQ((*p)->Victim(kAll), 1u);
  EXPECT_GT(asked[1], 0);
  EXPECT_GT(asked[2], 0);
}

}  // namespace
}  // namespace omnisage

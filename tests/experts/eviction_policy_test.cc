// Eviction policies: LRU order, LFU counts, aging and ties, the trust-weighted score, pinning, and
// the name registry.
#include "experts/eviction_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

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

TEST(EvictionPolicyTest, LfuEvictsLeastFrequentlyUsed) {
  auto p = NewLfuPolicy();
  EXPECT_EQ(p->name(), "lfu");
  for (uint64_t k : {1, 2, 3}) p->OnInsert(k, 100);
  for (uint64_t k : {1, 1, 1, 3, 2, 3}) p->OnAccess(k);  // counts 1: 3, 2: 1, 3: 2
  EXPECT_EQ(p->Victim(kAll), 2u);
  EXPECT_EQ(p->Victim(Except({2})), 3u);
  EXPECT_EQ(p->Victim(Except({2, 3})), 1u);
  EXPECT_EQ(p->Victim(Except({1, 2, 3})), std::nullopt);
}

TEST(EvictionPolicyTest, LfuTiesGoToLeastRecentThenLowerKey) {
  auto p = NewLfuPolicy();
  for (uint64_t k : {7, 4}) p->OnInsert(k, 100);
  // Inserted at the same time and never used: equal count and recency, so the lower key.
  EXPECT_EQ(p->Victim(kAll), 4u);
  p->OnAccess(4);
  p->OnAccess(7);  // equal counts (up to decay, which favours the later): 4 is older
  EXPECT_EQ(p->Victim(kAll), 4u);
}

// Arrival is the first use. X arrives and is used twice (t = 1, 2: count 2^(-1/8) + 1), f fillers
// follow, then Y arrives and is used once (count 2^(-1/8)). With half-life 8, at Y's use X's
// count is (2^(-1/8) + 1) · 2^(-(1 + f)/8): 0.921 for f = 7, just above Y's 0.917, and 0.844 for
// f = 8, below it.
TEST(EvictionPolicyTest, LfuCountsHalveEveryHalfLife) {
  for (int fillers : {7, 8}) {
    auto p = NewLfuPolicy(/*half_life=*/8);
    const uint64_t x = 1, y = 2, z = 3;
    for (uint64_t k : {x, z}) p->OnInsert(k, 100);
    p->OnAccess(x);
    p->OnAccess(x);
    for (int i = 0; i < fillers; ++i) p->OnAccess(z);
    p->OnInsert(y, 100);
    p->OnAccess(y);
    EXPECT_EQ(p->Victim(Except({z})), fillers == 7 ? y : x) << fillers << " fillers";
  }
}

TEST(EvictionPolicyTest, LfuAgingForgetsOldPopularity) {
  // A was popular long ago, B arrives and is used once just now.
  auto run = [](uint64_t half_life) {
    auto p = NewLfuPolicy(half_life);
    const uint64_t a = 1, b = 2, c = 3;
    for (uint64_t k : {a, c}) p->OnInsert(k, 100);
    for (int i = 0; i < 8; ++i) p->OnAccess(a);
    for (int i = 0; i < 40; ++i) p->OnAccess(c);
    p->OnInsert(b, 100);
    p->OnAccess(b);
    p->OnAccess(c);
    return *p->Victim(Except({c}));
  };
  EXPECT_EQ(run(1024), 2u);  // barely any decay: B's single use counts least
  EXPECT_EQ(run(4), 1u);     // A's eight uses have halved away
}

TEST(EvictionPolicyTest, LfuArrivalIsTheFirstUse) {
  auto p = NewLfuPolicy();
  p->OnInsert(1, 100);  // demand: arrival and its use are one use
  p->OnAccess(1);
  p->OnInsert(2, 100);  // prefetched, not used yet: one use as well
  p->OnInsert(3, 100);
  p->OnAccess(3);
  p->OnAccess(3);                  // a second use
  EXPECT_EQ(p->Victim(kAll), 1u);  // 1 and 2 tie at one use; 1 is older
  EXPECT_EQ(p->Victim(Except({1, 2})), 3u);
  EXPECT_NE(p->Victim(Except({1})), 3u);
}

TEST(EvictionPolicyTest, LfuForgetsErasedEntries) {
  auto p = NewLfuPolicy();
  p->OnInsert(1, 100);
  for (int i = 0; i < 5; ++i) p->OnAccess(1);
  p->OnErase(1);
  p->OnInsert(2, 100);
  p->OnAccess(2);
  p->OnAccess(2);
  p->OnInsert(1, 100);  // back with a fresh count of one use, not six
  EXPECT_EQ(p->Victim(kAll), 1u);
}

TEST(EvictionPolicyTest, TrustNeutralEvictsOldest) {
  auto p = NewTrustPolicy(nullptr);
  EXPECT_EQ(p->name(), "trust");
  for (uint64_t k : {1, 2, 3}) {
    p->OnInsert(k, 100);
    p->OnAccess(k);
  }
  EXPECT_EQ(p->Victim(kAll), 1u);
  p->OnAccess(1);
  EXPECT_EQ(p->Victim(kAll), 2u);
}

// Entries inserted together and never used have equal ages; trust and size decide.
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

TEST(EvictionPolicyTest, TrustPrefersLargerCharge) {
  auto p = NewTrustPolicy(nullptr);
  p->OnInsert(1, 50);
  p->OnInsert(2, 100);
  EXPECT_EQ(p->Victim(kAll), 2u);
}

// Ages after A, B, C are used in turn: 2, 1, 0 (normalised 1, 0.5, 0). Scores:
//   A trusted (1, 1):   0.4 · 1   + 0     + 0     + 0.1 = 0.50
//   B neutral:          0.4 · 0.5 + 0.125 + 0.125 + 0.1 = 0.55
//   C distrusted (0, 0): 0        + 0.25  + 0.25  + 0.1 = 0.60
TEST(EvictionPolicyTest, TrustWeighsAgeAgainstTrust) {
  const uint64_t a = 1, b = 2, c = 3;
  auto p = NewTrustPolicy([&](uint64_t k) {
    if (k == a) return TrustView{1.0, 1.0};
    if (k == c) return TrustView{0.0, 0.0};
    return TrustView{};
  });
  for (uint64_t k : {a, b, c}) {
    p->OnInsert(k, 100);
    p->OnAccess(k);
  }
  EXPECT_EQ(p->Victim(kAll), c);
  EXPECT_EQ(p->Victim(Except({c})), b);
  EXPECT_EQ(p->Victim(Except({b, c})), a);
  EXPECT_EQ(p->Victim(Except({a, b, c})), std::nullopt);
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
  EXPECT_EQ(EvictionPolicyNames(), (std::vector<std::string>{"lru", "lfu", "trust"}));
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
  EXPECT_NE(m.find("lru, lfu, trust"), std::string::npos) << m;
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

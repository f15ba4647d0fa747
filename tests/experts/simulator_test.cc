// The cache simulator: hand-computed small traces, the engine's pass grouping and pin window,
// Belady against every policy and against a brute-force optimum, budgets at the edges.
#include "experts/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "experts/expert_key.h"

namespace omnisage {
namespace {

constexpr uint64_t kBytes = 100;  // one thinker expert in these traces

Trace OneComponent(int experts = 8, int k = 1, int layers = 4) {
  Trace t;
  t.header.model = "test";
  t.header.total_expert_bytes = static_cast<uint64_t>(layers) * experts * kBytes;
  TraceComponent c{Component::kThinker, layers, experts, k, kBytes, {}};
  for (int l = 0; l < layers; ++l) c.moe_layers.push_back(l);
  t.header.components.push_back(c);
  return t;
}

// One record per step: a pass per record.
void AddPass(Trace* t, int64_t step, int layer, std::vector<int32_t> experts,
             Component c = Component::kThinker) {
  std::vector<float> w(experts.size(), 1.0f / std::max<size_t>(1, experts.size()));
  t->records.push_back({step, step, c, layer, std::move(experts), std::move(w)});
}

Trace Sequence(const std::vector<int32_t>& experts) {
  Trace t = OneComponent();
  for (size_t i = 0; i < experts.size(); ++i) AddPass(&t, static_cast<int64_t>(i), 0, {experts[i]});
  return t;
}

SimResult Replay(const Trace& t, uint64_t budget, const std::string& policy, int window = 0) {
  SimOptions o;
  o.window = window;
  StatusOr<SimResult> r = Status();
  if (policy == "belady") {
    r = SimulateCache(t, budget, nullptr, o);
  } else {
    auto p = NewEvictionPolicy(policy);
    EXPECT_TRUE(p.ok());
    r = SimulateCache(t, budget, p->get(), o);
  }
  EXPECT_TRUE(r.ok()) << policy << ": " << r.status().ToString();
  return r.ok() ? *r : SimResult{};
}

// Experts 0 1 0 2 1 0, room for two, one pinned at a time.
//   LRU:    m m h m(evict 1) m(evict 0) m(evict 2)       -> 1 hit, 5 misses, 3 evictions
//   LFU:    m m h m(evict 1) m(evict 2) h                -> 2 hits, 4 misses, 2 evictions
//           (one layer: the second use of 0 starts pass 2; at 2's miss 0 and 1 were both used in
//           every pass so far and 1 less recently; at 1's miss 2 was in one pass of two, 0 in
//           both)
//   Belady: m m h m(evict 0, next use 5 > 4) h m(evict 1: never again, lower key than 2)
//                                                         -> 2 hits, 4 misses, 2 evictions
TEST(SimulatorTest, HandComputedSequence) {
  const Trace t = Sequence({0, 1, 0, 2, 1, 0});
  const SimResult lru = Replay(t, 2 * kBytes, "lru");
  EXPECT_EQ(lru.policy, "lru");
  EXPECT_EQ(lru.accesses, 6u);
  EXPECT_EQ(lru.hits, 1u);
  EXPECT_EQ(lru.misses, 5u);
  EXPECT_EQ(lru.evictions, 3u);
  EXPECT_EQ(lru.bytes_read, 5 * kBytes);
  EXPECT_DOUBLE_EQ(lru.hit_rate, 1.0 / 6);
  EXPECT_EQ(lru.distinct_experts, 3u);
  EXPECT_EQ(lru.layer_passes, 6u);
  EXPECT_EQ(lru.peak_resident_bytes, 2 * kBytes);

  const SimResult lfu = Replay(t, 2 * kBytes, "lfu");
  EXPECT_EQ(lfu.hits, 2u);
  EXPECT_EQ(lfu.misses, 4u);
  EXPECT_EQ(lfu.evictions, 2u);

  const SimResult belady = Replay(t, 2 * kBytes, "belady");
  EXPECT_EQ(belady.policy, "belady");
  EXPECT_EQ(belady.hits, 2u);
  EXPECT_EQ(belady.misses, 4u);
  EXPECT_EQ(belady.evictions, 2u);
  EXPECT_EQ(belady.bytes_read, 4 * kBytes);
}

// LRU with room for three on a loop of four: every use misses (the classic LRU pathology), while
// Belady keeps two of the loop.
TEST(SimulatorTest, LruLoopPathology) {
  std::vector<int32_t> seq;
  for (int r = 0; r < 5; ++r) {
    for (int e = 0; e < 4; ++e) seq.push_back(e);
  }
  const Trace t = Sequence(seq);
  const SimResult lru = Replay(t, 3 * kBytes, "lru");
  EXPECT_EQ(lru.hits, 0u);
  EXPECT_EQ(lru.evictions, 17u);
  // Belady: 4 compulsory misses, then a miss every third use (at uses 6, 9, 12, 15, 18).
  const SimResult b = Replay(t, 3 * kBytes, "belady");
  EXPECT_EQ(b.misses, 9u);
  EXPECT_EQ(b.hits, 11u);
  EXPECT_EQ(b.evictions, 6u);
}

TEST(SimulatorTest, ConsecutiveRecordsOfALayerFormOnePass) {
  Trace t = OneComponent();
  // A prefill step: three tokens in layer 0 (one record each), then layer 1, then layer 0 of the
  // next step.
  t.records.push_back({0, 0, Component::kThinker, 0, {5, 1}, {0.5f, 0.5f}});
  t.records.push_back({0, 1, Component::kThinker, 0, {1, 3}, {0.5f, 0.5f}});
  t.records.push_back({0, 2, Component::kThinker, 0, {5, 3}, {0.5f, 0.5f}});
  t.records.push_back({0, 0, Component::kThinker, 1, {1}, {1.0f}});
  t.records.push_back({1, 3, Component::kThinker, 0, {3}, {1.0f}});
  const SimResult r = Replay(t, 8 * kBytes, "lru");
  EXPECT_EQ(r.layer_passes, 3u);
  EXPECT_EQ(r.accesses, 5u);  // {1, 3, 5} once each, layer 1's 1, then 3 again
  EXPECT_EQ(r.hits, 1u);
  EXPECT_EQ(r.misses, 4u);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].layer, 0);
  EXPECT_EQ(r.layers[0].hits, 1u);
  EXPECT_EQ(r.layers[0].misses, 3u);
  EXPECT_EQ(r.layers[1].layer, 1);
  EXPECT_EQ(r.layers[1].hits, 0u);
  EXPECT_EQ(r.layers[1].misses, 1u);
}

// Room for two. Passes [5], [6], then [3, 5]. When 3 is loaded, 5 is the least recently used —
// but with a window of 2 it is pinned (the pass uses it next), so LRU must evict 6 and 5 hits.
// With a window of 1, LRU evicts 5 and misses it right after.
TEST(SimulatorTest, PinWindowProtectsTheNextExpertsOfThePass) {
  Trace t = OneComponent(8, /*k=*/2);
  AddPass(&t, 0, 0, {5});
  AddPass(&t, 1, 0, {6});
  AddPass(&t, 2, 0, {3, 5});
  const SimResult w2 = Replay(t, 2 * kBytes, "lru");  // window 0: the header's k = 2
  EXPECT_EQ(w2.hits, 1u);
  EXPECT_EQ(w2.misses, 3u);
  const SimResult w1 = Replay(t, 2 * kBytes, "lru", /*window=*/1);
  EXPECT_EQ(w1.hits, 0u);
  EXPECT_EQ(w1.misses, 4u);
  EXPECT_EQ(w1.evictions, 2u);
}

TEST(SimulatorTest, WindowIsClampedToWhatFits) {
  const TraceComponent c{Component::kThinker, 1, 8, 8, kBytes, {0}};
  EXPECT_EQ(SimWindow(c, 3 * kBytes, {}), 3);
  EXPECT_EQ(SimWindow(c, 100 * kBytes, {}), 8);
  EXPECT_EQ(SimWindow(c, 100 * kBytes, SimOptions{2}), 2);
  EXPECT_EQ(SimWindow(c, 2 * kBytes, SimOptions{5}), 2);
  EXPECT_EQ(SimWindow(c, kBytes, SimOptions{5}), 1);
  EXPECT_EQ(SimWindow(c, 0, {}), 1);
  // A pass of eight under a budget of three still runs: the window shrinks to 3.
  Trace t = OneComponent(8, 8);
  AddPass(&t, 0, 0, {0, 1, 2, 3, 4, 5, 6, 7});
  AddPass(&t, 1, 0, {0, 1, 2, 3, 4, 5, 6, 7});
  for (const char* p : {"lru", "lfu", "cycle", "trust", "belady"}) {
    const SimResult r = Replay(t, 3 * kBytes, p);
    EXPECT_EQ(r.accesses, 16u) << p;
    EXPECT_LE(r.peak_resident_bytes, 3 * kBytes) << p;
  }
}

TEST(SimulatorTest, BudgetBelowOneExpertIsAnError) {
  const Trace t = Sequence({0, 1});
  EXPECT_EQ(MinimumSimBudget(t), kBytes);
  for (EvictionPolicy* p : {static_cast<EvictionPolicy*>(nullptr)}) {
    auto r = SimulateCache(t, kBytes - 1, p, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("minimum is 100 bytes"), std::string::npos)
        << r.status().message();
  }
  auto lru = NewLruPolicy();
  EXPECT_FALSE(SimulateCache(t, 0, lru.get(), {}).ok());
  EXPECT_TRUE(SimulateCache(t, kBytes, nullptr, {}).ok());
}

TEST(SimulatorTest, MinimumBudgetIsTheLargestExpertUsed) {
  Trace t = OneComponent();
  t.header.components.push_back({Component::kTalker, 2, 4, 1, 7 * kBytes, {0, 1}});
  EXPECT_EQ(MinimumSimBudget(t), 0u);  // no records
  AddPass(&t, 0, 0, {1});
  EXPECT_EQ(MinimumSimBudget(t), kBytes);
  AddPass(&t, 0, 1, {1}, Component::kTalker);
  EXPECT_EQ(MinimumSimBudget(t), 7 * kBytes);
}

TEST(SimulatorTest, EmptyTrace) {
  const Trace t = OneComponent();
  const SimResult r = Replay(t, 0, "belady");
  EXPECT_EQ(r.accesses, 0u);
  EXPECT_EQ(r.hit_rate, 0.0);
}

// A random trace of one component: passes of up to `max_pass` distinct experts.
Trace RandomTrace(uint32_t seed, int experts, int layers, int steps, int max_pass, int k) {
  std::mt19937 rng(seed);
  Trace t = OneComponent(experts, k, layers);
  // Skewed popularity, as real routers are.
  std::vector<double> weight(experts);
  for (int e = 0; e < experts; ++e) weight[e] = 1.0 / (1 + ((e * 7919) % experts));
  std::discrete_distribution<int> pick(weight.begin(), weight.end());
  std::uniform_int_distribution<int> size(1, max_pass);
  for (int s = 0; s < steps; ++s) {
    for (int l = 0; l < layers; ++l) {
      std::set<int32_t> chosen;
      const int n = size(rng);
      while (static_cast<int>(chosen.size()) < n) chosen.insert(pick(rng));
      std::vector<int32_t> v(chosen.begin(), chosen.end());
      std::shuffle(v.begin(), v.end(), rng);  // records need not be sorted
      AddPass(&t, s, l, v);
    }
  }
  return t;
}

TEST(SimulatorTest, BeladyBeatsEveryPolicyOnRandomTraces) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    const int k = 1 + static_cast<int>(seed % 4);
    const Trace t = RandomTrace(seed, 16, 3, 40, k + 2, k);
    for (uint64_t slots : {uint64_t{4}, uint64_t{8}, uint64_t{13}, uint64_t{24}}) {
      for (int window : {0, 1, 3}) {
        const SimResult b = Replay(t, slots * kBytes, "belady", window);
        for (const std::string& name : EvictionPolicyNames()) {
          const SimResult r = Replay(t, slots * kBytes, name, window);
          ASSERT_EQ(r.accesses, b.accesses);
          EXPECT_GE(b.hits, r.hits) << "seed " << seed << " slots " << slots << " window " << window
                                    << " policy " << name;
          EXPECT_EQ(r.hits + r.misses, r.accesses);
          EXPECT_EQ(r.bytes_read, r.misses * kBytes);
          EXPECT_LE(r.peak_resident_bytes, slots * kBytes);
          EXPECT_GE(r.misses, r.distinct_experts);
          EXPECT_LE((r.misses - r.evictions) * kBytes, slots * kBytes);  // resident at the end
        }
      }
    }
  }
}

// The fewest misses any eviction choice achieves (equal charges: `slots` experts fit), by
// exhaustive search over the victims of every miss.
uint64_t BruteForceMisses(const std::vector<std::vector<uint64_t>>& passes, size_t slots,
                          size_t window) {
  std::vector<std::pair<size_t, size_t>> at;  // (pass, index in pass) per access
  for (size_t p = 0; p < passes.size(); ++p) {
    for (size_t i = 0; i < passes[p].size(); ++i) at.push_back({p, i});
  }
  uint64_t best = std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> resident;
  std::function<void(size_t, uint64_t)> go = [&](size_t a, uint64_t misses) {
    if (misses >= best) return;
    if (a == at.size()) {
      best = misses;
      return;
    }
    const auto [p, i] = at[a];
    const std::vector<uint64_t>& pass = passes[p];
    const uint64_t key = pass[i];
    if (std::find(resident.begin(), resident.end(), key) != resident.end()) {
      go(a + 1, misses);
      return;
    }
    if (resident.size() < slots) {
      resident.push_back(key);
      go(a + 1, misses + 1);
      resident.pop_back();
      return;
    }
    const auto pin_end = pass.begin() + std::min(pass.size(), i + window);
    for (size_t v = 0; v < resident.size(); ++v) {
      const uint64_t victim = resident[v];
      if (std::find(pass.begin() + i, pin_end, victim) != pin_end) continue;
      resident[v] = key;
      go(a + 1, misses + 1);
      resident[v] = victim;
    }
  };
  go(0, 0);
  return best;
}

TEST(SimulatorTest, BeladyEqualsBruteForceOptimum) {
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    const int k = 1 + static_cast<int>(seed % 3);
    const Trace t = RandomTrace(seed, 6, 2, 4, k + 1, k);
    std::vector<std::vector<uint64_t>> passes;
    for (const TraceRecord& r : t.records) {
      std::vector<uint64_t> keys;
      for (int32_t e : r.experts) keys.push_back(ExpertKey{r.component, r.layer, e}.Pack());
      std::sort(keys.begin(), keys.end());
      passes.push_back(keys);
    }
    for (size_t slots : {2, 3, 4}) {
      for (int window : {1, 2}) {
        SimOptions o;
        o.window = window;
        const TraceComponent& c = t.header.components[0];
        const size_t w = static_cast<size_t>(SimWindow(c, slots * kBytes, o));
        const SimResult b = Replay(t, slots * kBytes, "belady", window);
        EXPECT_EQ(b.misses, BruteForceMisses(passes, slots, w))
            << "seed " << seed << " slots " << slots << " window " << window;
      }
    }
  }
}

TEST(SimulatorTest, FullBudgetMissesOnlyCompulsorily) {
  const Trace t = RandomTrace(7, 16, 3, 30, 4, 2);
  const uint64_t all = 16 * 3 * kBytes;
  for (const char* p : {"lru", "lfu", "cycle", "trust", "belady"}) {
    const SimResult r = Replay(t, all, p);
    EXPECT_EQ(r.misses, r.distinct_experts) << p;
    EXPECT_EQ(r.evictions, 0u) << p;
    EXPECT_EQ(r.bytes_read, r.distinct_experts * kBytes) << p;
  }
  // Exactly the distinct experts' bytes suffice too.
  const SimResult lru = Replay(t, all, "lru");
  const SimResult tight = Replay(t, lru.distinct_experts * kBytes, "lru");
  EXPECT_EQ(tight.misses, tight.distinct_experts);
  EXPECT_EQ(tight.evictions, 0u);
}

TEST(SimulatorTest, PerLayerStatsAddUp) {
  const Trace t = RandomTrace(3, 12, 4, 25, 3, 2);
  const SimResult r = Replay(t, 10 * kBytes, "lfu");
  ASSERT_EQ(r.layers.size(), 4u);
  uint64_t hits = 0, misses = 0;
  for (size_t l = 0; l < r.layers.size(); ++l) {
    EXPECT_EQ(r.layers[l].layer, static_cast<int>(l));
    hits += r.layers[l].hits;
    misses += r.layers[l].misses;
  }
  EXPECT_EQ(hits, r.hits);
  EXPECT_EQ(misses, r.misses);
}

// Thinker experts 4x the talker's: charges follow the component, the budget is never exceeded.
TEST(SimulatorTest, UnequalChargesPerComponent) {
  Trace t = OneComponent(8, 2, 2);
  t.header.components.push_back({Component::kTalker, 2, 8, 2, kBytes / 4, {0, 1}});
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> e(0, 7);
  for (int s = 0; s < 50; ++s) {
    for (int l = 0; l < 2; ++l) AddPass(&t, s, l, {e(rng)});
    for (int l = 0; l < 2; ++l) AddPass(&t, s, l, {e(rng)}, Component::kTalker);
  }
  for (const char* p : {"lru", "lfu", "cycle", "trust", "belady"}) {
    const SimResult r = Replay(t, 3 * kBytes, p);
    uint64_t thinker_misses = 0, talker_misses = 0;
    for (const SimLayerStats& l : r.layers) {
      (l.component == Component::kThinker ? thinker_misses : talker_misses) += l.misses;
    }
    EXPECT_EQ(r.bytes_read, thinker_misses * kBytes + talker_misses * (kBytes / 4)) << p;
    EXPECT_LE(r.peak_resident_bytes, 3 * kBytes) << p;
  }
}

// Sees every callback; chooses victims through an inner LRU, or (when `cheat`) ignores pinning.
class CountingPolicy final : public EvictionPolicy {
 public:
  explicit CountingPolicy(bool cheat) : cheat_(cheat) {}
  std::string_view name() const override { return "counting"; }
  void OnInsert(uint64_t key, uint64_t charge) override {
    ++inserts;
    resident.insert(key);
    inner_->OnInsert(key, charge);
  }
  void OnAccess(uint64_t key) override {
    ++accesses;
    EXPECT_TRUE(resident.count(key)) << "access before insert";
    inner_->OnAccess(key);
  }
  void OnErase(uint64_t key) override {
    ++erases;
    resident.erase(key);
    inner_->OnErase(key);
  }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    if (cheat_) return *resident.begin();
    return inner_->Victim(evictable);
  }
  uint64_t inserts = 0, accesses = 0, erases = 0;
  std::set<uint64_t> resident;

 private:
  bool cheat_;
  std::unique_ptr<EvictionPolicy> inner_ = NewLruPolicy();
};

TEST(SimulatorTest, PolicySeesEveryInsertAccessAndErase) {
  const Trace t = RandomTrace(5, 10, 2, 20, 3, 2);
  CountingPolicy p(false);
  auto r = SimulateCache(t, 5 * kBytes, &p, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->policy, "counting");
  EXPECT_EQ(p.accesses, r->accesses);
  EXPECT_EQ(p.inserts, r->misses);
  EXPECT_EQ(p.erases, r->evictions);
  EXPECT_EQ(Replay(t, 5 * kBytes, "lru").hits, r->hits);  // the inner LRU, unchanged
}

TEST(SimulatorTest, PolicyChoosingAPinnedVictimIsAnInternalError) {
  CountingPolicy p(/*cheat=*/true);  // picks the lowest resident key, pinned or not
  Trace pinned = OneComponent(8, 2);
  AddPass(&pinned, 0, 0, {1});
  AddPass(&pinned, 1, 0, {2});
  AddPass(&pinned, 2, 0, {0, 1});  // loading 0: the cheat picks 1, pinned as 0's partner
  auto r = SimulateCache(pinned, 2 * kBytes, &p, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("pinned"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace omnisage

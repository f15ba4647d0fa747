#include "experts/eviction_policy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <list>
#include <unordered_map>
#include <unordered_set>

#include "experts/next_use.h"

namespace omnisage {
namespace {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  void OnInsert(uint64_t key, uint64_t) override { Touch(key); }
  void OnAccess(uint64_t key) override { Touch(key); }
  void OnErase(uint64_t key) override {
    auto it = pos_.find(key);
    if (it == pos_.end()) return;
    order_.erase(it->second);
    pos_.erase(it);
  }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    for (uint64_t key : order_) {  // oldest first
      if (evictable(key)) return key;
    }
    return std::nullopt;
  }

 private:
  void Touch(uint64_t key) {
    auto it = pos_.find(key);
    if (it != pos_.end()) order_.erase(it->second);
    order_.push_back(key);
    pos_[key] = std::prev(order_.end());
  }
  std::list<uint64_t> order_;  // least recent first
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> pos_;
};

// Frequency is the share of its layer's recent passes that used the entry (next_use.h: an average
// with a half-life in passes of that layer, so it ages by tokens whatever the model's depth). An
// entry loaded and not used yet (a prefetch, or a demand load about to be used) is kept while its
// layer's pass that expects it is not over; ties go to the least recently used, then the lower key.
class LfuPolicy final : public EvictionPolicy {
 public:
  explicit LfuPolicy(double half_life) : next_use_(half_life) {}
  std::string_view name() const override { return "lfu"; }
  void OnInsert(uint64_t key, uint64_t) override {
    resident_.insert(key);
    next_use_.OnInsert(key);
  }
  void OnAccess(uint64_t key) override { next_use_.OnAccess(key); }
  void OnErase(uint64_t key) override { resident_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    std::optional<uint64_t> best;
    double best_p = 0;
    uint64_t best_last = 0;
    for (uint64_t key : resident_) {
      if (!evictable(key)) continue;
      // An expected entry ranks above any frequency (at most 1).
      const double p = next_use_.Expected(key) ? 2.0 : next_use_.UseProbability(key);
      const uint64_t last = next_use_.LastAccess(key);
      if (!best || p < best_p ||
          (p == best_p && (last < best_last || (last == best_last && key < *best)))) {
        best = key;
        best_p = p;
        best_last = last;
      }
    }
    return best;
  }

 private:
  NextUseEstimator next_use_;
  std::unordered_set<uint64_t> resident_;
};

// Evicts the entry whose next use is estimated farthest (next_use.h); ties go to the less likely
// used, then the least recently used, then the lower key.
class CyclePolicy final : public EvictionPolicy {
 public:
  explicit CyclePolicy(double half_life) : next_use_(half_life) {}
  std::string_view name() const override { return "cycle"; }
  void OnInsert(uint64_t key, uint64_t) override {
    resident_.insert(key);
    next_use_.OnInsert(key);
  }
  void OnAccess(uint64_t key) override { next_use_.OnAccess(key); }
  void OnErase(uint64_t key) override { resident_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    std::optional<uint64_t> best;
    double best_next = 0, best_p = 0;
    uint64_t best_last = 0;
    for (uint64_t key : resident_) {
      if (!evictable(key)) continue;
      const double next = next_use_.NextUse(key);
      const double p = next_use_.UseProbability(key);
      const uint64_t last = next_use_.LastAccess(key);
      if (!best || next > best_next ||
          (next == best_next &&
           (p < best_p ||
            (p == best_p && (last < best_last || (last == best_last && key < *best)))))) {
        best = key;
        best_next = next;
        best_p = p;
        best_last = last;
      }
    }
    return best;
  }

 private:
  NextUseEstimator next_use_;
  std::unordered_set<uint64_t> resident_;
};

class TrustPolicy final : public EvictionPolicy {
 public:
  TrustPolicy(TrustLookup trust, const TrustWeights& weights, double half_life)
      : trust_(std::move(trust)), weights_(weights), next_use_(half_life) {}
  std::string_view name() const override { return "trust"; }
  void OnInsert(uint64_t key, uint64_t charge) override {
    resident_[key] = charge;
    next_use_.OnInsert(key);
  }
  void OnAccess(uint64_t key) override { next_use_.OnAccess(key); }
  void OnErase(uint64_t key) override { resident_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    double max_next = 0;
    uint64_t max_charge = 0;
    for (const auto& [key, charge] : resident_) {
      if (!evictable(key)) continue;
      const double next = next_use_.NextUse(key);
      if (next != NextUseEstimator::kNever) max_next = std::max(max_next, next);
      max_charge = std::max(max_charge, charge);
    }
    std::optional<uint64_t> best;
    double best_score = -1;
    uint64_t best_last = 0;
    for (const auto& [key, charge] : resident_) {
      if (!evictable(key)) continue;
      const TrustView t = trust_ ? trust_(key) : TrustView{};
      const double next = next_use_.NextUse(key);
      const double later = next == NextUseEstimator::kNever ? 1.0
                           : max_next > 0                   ? next / max_next
                                                            : 0.0;
      const double size = max_charge ? static_cast<double>(charge) / max_charge : 0.0;
      const double score = weights_.next_use * later + weights_.convergence * (1 - t.convergence) +
                           weights_.stability * (1 - t.stability) + weights_.size * size;
      const uint64_t last = next_use_.LastAccess(key);
      if (score > best_score ||
          (score == best_score && (last < best_last || (last == best_last && key < *best)))) {
        best = key;
        best_score = score;
        best_last = last;
      }
    }
    return best;
  }

 private:
  TrustLookup trust_;
  TrustWeights weights_;
  NextUseEstimator next_use_;
  std::unordered_map<uint64_t, uint64_t> resident_;  // key → charge
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy() { return std::make_unique<LruPolicy>(); }
std::unique_ptr<EvictionPolicy> NewLfuPolicy(double half_life) {
  return std::make_unique<LfuPolicy>(half_life);
}
std::unique_ptr<EvictionPolicy> NewCyclePolicy(double half_life) {
  return std::make_unique<CyclePolicy>(half_life);
}
std::unique_ptr<EvictionPolicy> NewTrustPolicy(TrustLookup trust, const TrustWeights& weights,
                                               double half_life) {
  return std::make_unique<TrustPolicy>(std::move(trust), weights, half_life);
}

const std::vector<std::string>& EvictionPolicyNames() {
  static const std::vector<std::string> names = {"lru", "lfu", "cycle", "trust"};
  return names;
}

StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name,
                                                            TrustLookup trust) {
  if (name == "lru") return NewLruPolicy();
  if (name == "lfu") return NewLfuPolicy();
  if (name == "cycle") return NewCyclePolicy();
  if (name == "trust") return NewTrustPolicy(std::move(trust));
  return InvalidArgument(fmt::format("unknown eviction policy '{}' (choose one of: {})", name,
                                     fmt::join(EvictionPolicyNames(), ", ")));
}

}  // namespace omnisage

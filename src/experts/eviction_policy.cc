#include "experts/eviction_policy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <list>
#include <unordered_map>
#include <utility>

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

// The policies built on the next-use estimator (next_use.h): each ranks the evictable entries, and
// the victim is the highest rank; ties go to the least recently used, then to the lower key.
class EstimatorPolicy : public EvictionPolicy {
 public:
  explicit EstimatorPolicy(double half_life) : next_use_(half_life) {}
  void OnInsert(uint64_t key, uint64_t charge) override {
    resident_[key] = charge;
    next_use_.OnInsert(key);
  }
  void OnAccess(uint64_t key) override { next_use_.OnAccess(key); }
  void OnErase(uint64_t key) override { resident_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    Prepare(evictable);
    std::optional<uint64_t> best;
    Rank best_rank;
    uint64_t best_last = 0;
    for (const auto& [key, charge] : resident_) {
      if (!evictable(key)) continue;
      const NextUseEstimator::Estimate e = next_use_.Look(key);
      const Rank rank = RankOf(e, key, charge);
      const uint64_t last = e.last_access;
      if (!best || rank > best_rank ||
          (rank == best_rank && (last < best_last || (last == best_last && key < *best)))) {
        best = key;
        best_rank = rank;
        best_last = last;
      }
    }
    return best;
  }

 protected:
  using Rank = std::pair<double, double>;  // compared lexicographically; higher: evicted first
  // Called once per Victim before the entries are ranked.
  virtual void Prepare(const std::function<bool(uint64_t)>& evictable) {}
  virtual Rank RankOf(const NextUseEstimator::Estimate& e, uint64_t key, uint64_t charge) const = 0;

  NextUseEstimator next_use_;
  std::unordered_map<uint64_t, uint64_t> resident_;  // key → charge
};

// Frequency is the share of its layer's recent passes that used the entry (an average with a
// half-life in passes of that layer, so it ages by tokens whatever the model's depth). An entry
// loaded and not used yet (a prefetch, or a demand load about to be used) is kept while its
// layer's pass that expects it is not over.
class LfuPolicy final : public EstimatorPolicy {
 public:
  using EstimatorPolicy::EstimatorPolicy;
  std::string_view name() const override { return "lfu"; }

 private:
  Rank RankOf(const NextUseEstimator::Estimate& e, uint64_t, uint64_t) const override {
    // An expected entry ranks below any frequency (at most 1).
    return {e.expected ? -2.0 : -e.probability, 0.0};
  }
};

// The farthest estimated next use; among equals the less likely used.
class CyclePolicy final : public EstimatorPolicy {
 public:
  using EstimatorPolicy::EstimatorPolicy;
  std::string_view name() const override { return "cycle"; }

 private:
  Rank RankOf(const NextUseEstimator::Estimate& e, uint64_t, uint64_t) const override {
    return {e.next_use, -e.probability};
  }
};

class TrustPolicy final : public EstimatorPolicy {
 public:
  TrustPolicy(TrustLookup trust, const TrustWeights& weights, double half_life)
      : EstimatorPolicy(half_life), trust_(std::move(trust)), weights_(weights) {}
  std::string_view name() const override { return "trust"; }

 private:
  void Prepare(const std::function<bool(uint64_t)>& evictable) override {
    max_next_ = 0;
    max_charge_ = 0;
    for (const auto& [key, charge] : resident_) {
      if (!evictable(key)) continue;
      const double next = next_use_.NextUse(key);
      if (next != NextUseEstimator::kNever) max_next_ = std::max(max_next_, next);
      max_charge_ = std::max(max_charge_, charge);
    }
  }
  Rank RankOf(const NextUseEstimator::Estimate& e, uint64_t key, uint64_t charge) const override {
    const TrustView t = trust_ ? trust_(key) : TrustView{};
    const double next = e.next_use;
    const double later = next == NextUseEstimator::kNever ? 1.0
                         : max_next_ > 0                  ? next / max_next_
                                                          : 0.0;
    const double size = max_charge_ ? static_cast<double>(charge) / max_charge_ : 0.0;
    return {weights_.next_use * later + weights_.convergence * (1 - t.convergence) +
                weights_.stability * (1 - t.stability) + weights_.size * size,
            0.0};
  }

  TrustLookup trust_;
  TrustWeights weights_;
  double max_next_ = 0;  // over the candidates of the Victim call in progress
  uint64_t max_charge_ = 0;
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

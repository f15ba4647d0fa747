#include "experts/eviction_policy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <list>
#include <unordered_map>

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

// Counts decay lazily: a count stored at time t is worth count · 2^−((now − t) / half_life).
// Arrival counts as the first use (so an entry prefetched ahead of its use is not the first
// victim of the next insert); the access that follows a demand insert is that same use.
class LfuPolicy final : public EvictionPolicy {
 public:
  explicit LfuPolicy(uint64_t half_life) : half_life_(std::max<uint64_t>(half_life, 1)) {}
  std::string_view name() const override { return "lfu"; }
  void OnInsert(uint64_t key, uint64_t) override {
    entries_.try_emplace(key, Entry{1, now_, true});
  }
  void OnAccess(uint64_t key) override {
    ++now_;
    Entry& e = entries_[key];
    e.count = e.fresh ? Decayed(e) : Decayed(e) + 1;
    e.fresh = false;
    e.last = now_;
  }
  void OnErase(uint64_t key) override { entries_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    std::optional<uint64_t> best;
    double best_count = 0;
    uint64_t best_last = 0;
    for (const auto& [key, e] : entries_) {
      if (!evictable(key)) continue;
      const double c = Decayed(e);
      if (!best || c < best_count || (c == best_count && e.last < best_last) ||
          (c == best_count && e.last == best_last && key < *best)) {
        best = key;
        best_count = c;
        best_last = e.last;
      }
    }
    return best;
  }

 private:
  struct Entry {
    double count;
    uint64_t last;
    bool fresh;  // inserted, not accessed yet
  };
  double Decayed(const Entry& e) const {
    return e.count * std::exp2(-static_cast<double>(now_ - e.last) / half_life_);
  }
  uint64_t half_life_;
  uint64_t now_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
};

class TrustPolicy final : public EvictionPolicy {
 public:
  explicit TrustPolicy(TrustLookup trust) : trust_(std::move(trust)) {}
  std::string_view name() const override { return "trust"; }
  void OnInsert(uint64_t key, uint64_t charge) override {
    entries_.try_emplace(key, Entry{charge, now_});
  }
  void OnAccess(uint64_t key) override {
    ++now_;
    entries_[key].last = now_;
  }
  void OnErase(uint64_t key) override { entries_.erase(key); }
  std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) override {
    uint64_t max_age = 0, max_charge = 0;
    for (const auto& [key, e] : entries_) {
      if (!evictable(key)) continue;
      max_age = std::max(max_age, now_ - e.last);
      max_charge = std::max(max_charge, e.charge);
    }
    std::optional<uint64_t> best;
    double best_score = -1;
    for (const auto& [key, e] : entries_) {
      if (!evictable(key)) continue;
      const TrustView t = trust_ ? trust_(key) : TrustView{};
      const double age = max_age ? static_cast<double>(now_ - e.last) / max_age : 0.0;
      const double size = max_charge ? static_cast<double>(e.charge) / max_charge : 0.0;
      const double score =
          0.4 * age + 0.25 * (1 - t.convergence) + 0.25 * (1 - t.stability) + 0.1 * size;
      if (score > best_score || (score == best_score && key < *best)) {
        best = key;
        best_score = score;
      }
    }
    return best;
  }

 private:
  struct Entry {
    uint64_t charge;
    uint64_t last;
  };
  TrustLookup trust_;
  uint64_t now_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy() { return std::make_unique<LruPolicy>(); }
std::unique_ptr<EvictionPolicy> NewLfuPolicy(uint64_t half_life) {
  return std::make_unique<LfuPolicy>(half_life);
}
std::unique_ptr<EvictionPolicy> NewTrustPolicy(TrustLookup trust) {
  return std::make_unique<TrustPolicy>(std::move(trust));
}

const std::vector<std::string>& EvictionPolicyNames() {
  static const std::vector<std::string> names = {"lru", "lfu", "trust"};
  return names;
}

StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name,
                                                            TrustLookup trust) {
  if (name == "lru") return NewLruPolicy();
  if (name == "lfu") return NewLfuPolicy();
  if (name == "trust") return NewTrustPolicy(std::move(trust));
  return InvalidArgument(fmt::format("unknown eviction policy '{}' (choose one of: {})", name,
                                     fmt::join(EvictionPolicyNames(), ", ")));
}

}  // namespace omnisage

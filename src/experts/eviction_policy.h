// EvictionPolicy: which unpinned expert the cache gives up when it needs room. One interface
// serves the live ExpertCache and the offline simulator (simulate), so a policy measured in
// simulation is the policy that runs.
//
// Keys are packed ExpertKeys (expert_key.h). The owner reports every insert, use and erase; the
// policy keeps whatever order it needs and answers Victim(). Time is logical: each OnAccess
// advances it by one. Not thread-safe: the cache calls it under its own lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace omnisage {

// What the trust-weighted policy knows of an expert (sage/trust.h keeps the records). Values are
// in [0, 1]; an expert with no record reads as {0.5, 0.5}.
struct TrustView {
  double convergence = 0.5;
  double stability = 0.5;
};
using TrustLookup = std::function<TrustView(uint64_t key)>;

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  // A new entry of `charge` bytes became resident (its first use is reported by OnAccess).
  virtual void OnInsert(uint64_t key, uint64_t charge) = 0;
  // The entry was used (looked up for computation).
  virtual void OnAccess(uint64_t key) = 0;
  // The entry left the cache (evicted or erased).
  virtual void OnErase(uint64_t key) = 0;
  // The entry to evict next among those for which `evictable` is true (pinned entries are not);
  // nullopt when there is none.
  virtual std::optional<uint64_t> Victim(const std::function<bool(uint64_t)>& evictable) = 0;
};

// Least recently used.
std::unique_ptr<EvictionPolicy> NewLruPolicy();
// Least frequently used with aging: arrival counts 1 and each use adds 1 to a count that halves
// every `half_life` accesses, so old popularity fades; ties go to the least recently used.
std::unique_ptr<EvictionPolicy> NewLfuPolicy(uint64_t half_life = 1024);
// Trust-weighted: evicts the entry with the highest
//   0.4 · age + 0.25 · (1 − convergence) + 0.25 · (1 − stability) + 0.1 · size,
// where age is accesses since last use over the largest such age among candidates, and size is
// the charge over the largest candidate charge (docs/expert-cache.md).
std::unique_ptr<EvictionPolicy> NewTrustPolicy(TrustLookup trust);

// The policy names --policy accepts, in the order reports list them.
const std::vector<std::string>& EvictionPolicyNames();  // {"lru", "lfu", "trust"}
// `trust` is used by "trust" only (null: every expert reads as neutral). Unknown names are an
// error that lists the valid ones.
StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name,
                                                            TrustLookup trust = nullptr);

}  // namespace omnisage

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
// Least frequently used with aging: an entry's frequency is the share of its layer's passes that
// used it, averaged with a half-life of `half_life` passes of that layer (tokens, in decode;
// experts/next_use.h). An entry loaded and not used yet is kept until its layer's pass that
// expects it is over; ties go to the least recently used.
std::unique_ptr<EvictionPolicy> NewLfuPolicy(double half_life = 64);
// Layer-cycle aware: evicts the entry whose next use is estimated farthest (experts/next_use.h:
// the layers until its layer runs again, plus a whole cycle for each pass of its layer expected
// to skip it, from an average over the last passes with a half-life of `half_life` passes).
std::unique_ptr<EvictionPolicy> NewCyclePolicy(double half_life = 64);
// The trust-weighted policy's weights (docs/expert-cache.md has the sweep that chose them).
struct TrustWeights {
  double next_use = 0.8;
  double convergence = 0.1;
  double stability = 0.1;
  double size = 0;  // charges differ only between components (thinker and talker experts)
};
// Trust-weighted: evicts the entry with the highest
//   next_use · later + convergence · (1 − c) + stability · (1 − s) + size · charge/largest
// where `later` is the entry's estimated next use (experts/next_use.h, with a half-life of
// `half_life` passes) over the farthest finite one among candidates (1 when none is in view),
// c and s its trust record's convergence and stability, and the last term its charge over the
// largest candidate charge. Ties go to the least recently used.
std::unique_ptr<EvictionPolicy> NewTrustPolicy(TrustLookup trust, const TrustWeights& weights = {},
                                               double half_life = 64);

// The policy names --policy accepts, in the order reports list them.
const std::vector<std::string>& EvictionPolicyNames();  // {"lru", "lfu", "cycle", "trust"}
// `trust` is used by "trust" only (null: every expert reads as neutral). Unknown names are an
// error that lists the valid ones.
StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name,
                                                            TrustLookup trust = nullptr);

}  // namespace omnisage

// Offline expert-cache simulation: replays a routing trace (trace.h) against a byte budget and an
// eviction policy (eviction_policy.h), or against Belady's farthest-next-use rule, and counts hits,
// misses, bytes read and evictions. `omnisage simulate` prints these side by side
// (docs/simulate.md).
//
// The replay follows the engine's MoE layer (MoeDecoder::Moe): consecutive records with the same
// (step, component, layer) form one layer pass; a pass uses each expert in the union of its
// records once, in ascending expert index. While the pass uses its i-th expert, that expert and
// the next W − 1 of the pass are pinned (the engine's Expect/Acquire window) and cannot be
// evicted. A missing expert is loaded on use (no prefetch): the policy names unpinned victims
// until the expert's bytes fit. Every resident expert of a component is charged that component's
// header expert_bytes.
//
// Belady (policy == nullptr) evicts the unpinned resident expert whose next use is farthest in the
// future (never used again counts as infinitely far; ties go to the lower packed ExpertKey). With
// equal charges — a trace of one component, or components whose experts are the same size — this
// is the offline optimum for the hit count (and so for bytes read). With unequal charges (thinker
// 9 MiB and talker 2.25 MiB experts in one trace) it is a heuristic: the optimum may keep one large
// expert instead of several small ones, and no policy here is guaranteed to beat or trail it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experts/eviction_policy.h"
#include "experts/trace.h"
#include "model/tensor_table.h"
#include "util/status.h"

namespace omnisage {

struct SimOptions {
  // The pin window W: experts of a layer pass pinned together (the one in use and the next
  // W − 1). 0 takes each component's k from the trace header. Either way W is clamped to
  // [1, budget / expert_bytes] per component, as the engine never holds more than fit.
  int window = 0;
};

struct SimLayerStats {
  Component component = Component::kThinker;
  int layer = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
};

struct SimResult {
  std::string policy;                 // the policy's name(), or "belady"
  uint64_t budget_bytes = 0;          // as given
  uint64_t layer_passes = 0;          // (step, component, layer) groups replayed
  uint64_t accesses = 0;              // expert uses: one per expert per layer pass
  uint64_t hits = 0;                  // uses that found the expert resident
  uint64_t misses = 0;                // uses that had to load it (accesses = hits + misses)
  double hit_rate = 0;                // hits / accesses; 0 for an empty trace
  uint64_t bytes_read = 0;            // bytes loaded: the sum of the charges of the misses
  uint64_t evictions = 0;             // experts evicted to make room
  uint64_t distinct_experts = 0;      // experts used at least once: the compulsory misses
  uint64_t peak_resident_bytes = 0;   // most bytes resident at once (never above the budget)
  std::vector<SimLayerStats> layers;  // per (component, layer) used, in that order
};

// The pin window SimulateCache uses for `component`'s passes under `budget_bytes`.
int SimWindow(const TraceComponent& component, uint64_t budget_bytes, const SimOptions& options);

// The smallest budget SimulateCache accepts for `trace`: one expert of the largest kind the
// records use (0 when there are no records).
uint64_t MinimumSimBudget(const Trace& trace);

// Replays `trace` under `budget_bytes`. `policy` must be fresh (nothing inserted yet) and is only
// used for this run; nullptr replays Belady. Errors: a budget below MinimumSimBudget (the message
// names the minimum in bytes), a record whose component is not in the header, and a policy that
// names a pinned or absent victim or none while unpinned experts are resident (Internal).
StatusOr<SimResult> SimulateCache(const Trace& trace, uint64_t budget_bytes, EvictionPolicy* policy,
                                  const SimOptions& options = {});

}  // namespace omnisage

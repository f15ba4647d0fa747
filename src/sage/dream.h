// DREAM: offline consolidation of routing usage into the trust table, and the choice of a hot set
// (the experts to keep resident, e.g. preloaded or pinned at the next start).
//
// Input: routing decisions in the order the engine made them (the integrator adapts trace records,
// experts/trace.h, to RoutingDecision). For every record in the table, as implemented:
//   routed      ← decay · routed + (decisions in the input that chose the expert)
//   mean_weight ← (decay · routed_old · mean_weight_old + Σ its weights in the input) / routed
// so old usage fades by `decay` per DREAM (records absent from the input decay too). `uses` and
// the other live counters (TrustTable::Observe) are left alone.
//
// Hot set: experts ranked by routed × mean_weight (their decayed total mixing weight;
// ties to the lower packed key), taken greedily: each is added when its bytes still fit within
// `byte_limit`, otherwise skipped (a smaller expert further down may still fit). Experts with a
// zero score are never added. The result replaces the table's hot set.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "model/tensor_table.h"
#include "sage/trust.h"
#include "util/status.h"

namespace omnisage {

struct RoutingDecision {
  Component component = Component::kThinker;
  int layer = 0;
  std::vector<int32_t> experts;
  std::vector<float> weights;  // same length as experts
};

struct DreamOptions {
  double decay = 0.5;  // in [0, 1]: the weight of usage consolidated before this DREAM
  uint64_t byte_limit = 0;
  // Bytes of one routed expert per component; every component with usage (in the decisions, or
  // kept from earlier DREAMs when decay > 0) must have one.
  std::map<Component, uint64_t> expert_bytes;
};

struct DreamReport {
  int64_t decisions = 0;
  int64_t experts_used = 0;  // distinct experts in the decisions
  std::vector<uint64_t> hot_set;
  uint64_t hot_bytes = 0;
};

// Errors (InvalidArgument, nothing changed): a decision whose weights and experts differ in
// length, a negative layer or expert, a missing expert size, a decay outside [0, 1].
StatusOr<DreamReport> Dream(const std::vector<RoutingDecision>& decisions,
                            const DreamOptions& options, TrustTable* table);

}  // namespace omnisage

// GET /metrics: the server's counters in Prometheus' text format (version 0.0.4). Every name
// starts with omnisage_; counters end in _total, bytes in _bytes. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "experts/cached_experts.h"
#include "server/scheduler.h"

namespace omnisage {

struct MetricsInputs {
  SchedulerStats scheduler;
  // (path, HTTP status) → requests answered.
  std::map<std::pair<std::string, int>, uint64_t> requests;
  std::optional<ExpertCacheStats> cache;  // null: every expert resident
  uint64_t expert_budget_bytes = 0;
  uint64_t total_expert_bytes = 0;
  // The most the KV caches may hold: --max-batch caches of --context tokens (each running answer
  // has one; a spoken answer runs alone).
  uint64_t kv_cache_limit_bytes = 0;
  double uptime_seconds = 0;
};

// Includes the memory ledger by kind (util/memory_ledger.h) and the process's RSS.
std::string RenderMetrics(const MetricsInputs& in);

}  // namespace omnisage

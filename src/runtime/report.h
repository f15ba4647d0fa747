// What a run reports about memory and the expert cache: one summary for people (a few lines)
// and one JSON object for programs (run --json, bench), built from the engine's memory ledger
// and the cache's statistics, so every front end shows the same numbers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "experts/cached_experts.h"
#include "runtime/engine.h"

namespace omnisage {

// "memory: experts ≤ 1.1 GiB (25% of 4.5 GiB) + dense … | peak RSS … | saved …" and, with a
// cache, "expert cache (cycle): … hits … misses …". Lines end with '\n'.
std::string MemoryReport(Engine& engine);

// {"expert_budget_bytes", "total_expert_bytes", "dense_bytes", "kv_cache_bytes",
//  "ledger_peak_bytes", "peak_rss_bytes", "saved_bytes", ...}.
nlohmann::ordered_json MemoryJson(Engine& engine);

// Counters with names that say what they count (hits, misses, prefetch_hits, bytes_read,
// stall_seconds, evictions, ...), plus hit_rate and prediction_accuracy.
nlohmann::ordered_json CacheStatsJson(const ExpertCacheStats& s);

// {"policy", "budget_bytes", "total": {...}, "layers": [{"layer": l, ...}]} or null without a
// cache.
nlohmann::ordered_json CacheJson(Engine& engine);

}  // namespace omnisage

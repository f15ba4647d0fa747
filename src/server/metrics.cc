#include "server/metrics.h"

#include <fmt/format.h>

#include "util/memory_ledger.h"
#include "util/proc_memory.h"

namespace omnisage {
namespace {

void Metric(std::string* out, const char* name, const char* type, const char* help, double value) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace

std::string RenderMetrics(const MetricsInputs& in) {
  std::string out;
  const SchedulerStats& s = in.scheduler;
  Metric(&out, "omnisage_uptime_seconds", "gauge", "Seconds since the server started",
         in.uptime_seconds);
  Metric(&out, "omnisage_requests_in_flight", "gauge", "Requests being generated", s.running);
  Metric(&out, "omnisage_requests_queued", "gauge", "Requests waiting for a slot", s.queued);
  out +=
      "# HELP omnisage_http_requests_total HTTP requests answered, by path and status\n"
      "# TYPE omnisage_http_requests_total counter\n";
  for (const auto& [key, n] : in.requests) {
    out += fmt::format("omnisage_http_requests_total{{path=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  }
  out +=
      "# HELP omnisage_generations_total Generations ended, by outcome\n"
      "# TYPE omnisage_generations_total counter\n";
  out += fmt::format("omnisage_generations_total{{outcome=\"finished\"}} {}\n", s.finished);
  out += fmt::format("omnisage_generations_total{{outcome=\"cancelled\"}} {}\n", s.cancelled);
  out += fmt::format("omnisage_generations_total{{outcome=\"failed\"}} {}\n", s.failed);
  Metric(&out, "omnisage_prompt_tokens_total", "counter", "Prompt tokens prefilled",
         s.prompt_tokens);
  Metric(&out, "omnisage_completion_tokens_total", "counter", "Tokens generated",
         s.completion_tokens);
  Metric(&out, "omnisage_decode_steps_total", "counter",
         "Decode forward passes (one per batch step)", s.decode_steps);
  Metric(&out, "omnisage_decode_batch_tokens_total", "counter",
         "Tokens run by decode forward passes (sum of batch sizes)", s.decode_tokens);
  Metric(&out, "omnisage_tokens_per_second", "gauge",
         "Tokens generated per second over the last 10 s, all sequences", s.tokens_per_second);
  if (in.cache) {
    const ExpertCacheStats& c = *in.cache;
    Metric(&out, "omnisage_expert_cache_hits_total", "counter",
           "Expert uses found in the cache (or on their way)", c.hits);
    Metric(&out, "omnisage_expert_cache_misses_total", "counter", "Expert uses loaded on demand",
           c.misses);
    Metric(&out, "omnisage_expert_cache_prefetch_hits_total", "counter",
           "Hits brought in by the prefetcher", c.prefetch_hits);
    Metric(&out, "omnisage_expert_cache_evictions_total", "counter", "Experts evicted",
           c.evictions);
    Metric(&out, "omnisage_expert_bytes_read_total", "counter", "Expert bytes read from disk",
           c.bytes_read);
    Metric(&out, "omnisage_expert_stall_seconds_total", "counter",
           "Seconds the forward pass waited for experts", c.stall_seconds);
  }
  Metric(&out, "omnisage_expert_budget_bytes", "gauge", "Budget for routed-expert memory",
         in.expert_budget_bytes);
  Metric(&out, "omnisage_expert_total_bytes", "gauge", "Bytes of all routed experts",
         in.total_expert_bytes);
  Metric(&out, "omnisage_kv_cache_limit_bytes", "gauge",
         "The most the KV caches may hold (--max-batch caches of --context tokens)",
         in.kv_cache_limit_bytes);
  const MemoryLedger& ledger = MemoryLedger::Global();
  out +=
      "# HELP omnisage_memory_ledger_bytes Memory the engine holds, by kind\n"
      "# TYPE omnisage_memory_ledger_bytes gauge\n";
  for (int k = 0; k < kNumMemoryKinds; ++k) {
    const auto kind = static_cast<MemoryKind>(k);
    out += fmt::format("omnisage_memory_ledger_bytes{{kind=\"{}\"}} {}\n", MemoryKindName(kind),
                       ledger.current(kind));
  }
  out +=
      "# HELP omnisage_memory_ledger_peak_bytes The most memory the engine held, by kind\n"
      "# TYPE omnisage_memory_ledger_peak_bytes gauge\n";
  for (int k = 0; k < kNumMemoryKinds; ++k) {
    const auto kind = static_cast<MemoryKind>(k);
    out += fmt::format("omnisage_memory_ledger_peak_bytes{{kind=\"{}\"}} {}\n",
                       MemoryKindName(kind), ledger.peak(kind));
  }
  Metric(&out, "omnisage_memory_ledger_peak_total_bytes", "gauge", "Highest ledger total",
         ledger.peak_total());
  Metric(&out, "omnisage_resident_memory_bytes", "gauge", "Resident set size of the process",
         CurrentRssBytes());
  return out;
}

}  // namespace omnisage

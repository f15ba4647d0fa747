#include "runtime/report.h"

#include <fmt/format.h>

#include "util/proc_memory.h"
#include "util/units.h"

namespace omnisage {
namespace {

double Percent(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

std::string MemoryReport(Engine& engine) {
  const MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t total = engine.total_expert_bytes();
  const uint64_t budget = engine.expert_budget_bytes();
  const uint64_t expert_peak = ledger.peak(MemoryKind::kExpertCache);
  std::string out = fmt::format(
      "memory: experts {} of {} budget ({:.0f}% of {}) + dense {} + KV cache {} + activations "
      "{} | ledger peak {} | peak RSS {} | saved {} against all experts resident\n",
      FormatBytes(expert_peak), FormatBytes(budget), Percent(budget, total), FormatBytes(total),
      FormatBytes(ledger.current(MemoryKind::kDense)),
      FormatBytes(ledger.peak(MemoryKind::kKvCache)),
      FormatBytes(ledger.peak(MemoryKind::kActivations)), FormatBytes(ledger.peak_total()),
      FormatBytes(PeakRssBytes()), FormatBytes(total > expert_peak ? total - expert_peak : 0));
  if (const MemoryLimitPlan* plan = engine.memory_plan()) {
    out += fmt::format(
        "memory limit: {} (--memory): {} of weights, caches and buffers planned, experts {}{}; "
        "the ledger may reach {}, reached {}\n",
        FormatBytes(plan->limit), FormatBytes(plan->fixed_bytes), FormatBytes(plan->expert_budget),
        plan->encoders_released
            ? fmt::format(" (less the encoders' {} while a prompt's media are encoded; the "
                          "encoders released after)",
                          FormatBytes(plan->encoder_bytes))
            : "",
        FormatBytes(plan->ledger_limit()), FormatBytes(ledger.peak_total()));
  }
  if (const AudioEncoder* audio = engine.loaded_audio_encoder()) {
    out += fmt::format("audio encoder: {} of weights (within dense), loaded on first use\n",
                       FormatBytes(audio->weight_bytes()));
  }
  if (VisionEncoder* vision = engine.loaded_vision_encoder()) {
    out += fmt::format(
        "vision encoder: {} of weights (within dense), loaded on first use; activations {} "
        "(one frame at a time)\n",
        FormatBytes(vision->weight_bytes()), FormatBytes(vision->activations().bytes()));
  }
  if (CachedExperts* cache = engine.expert_cache()) {
    const ExpertCacheStats s = cache->total_stats();
    out += fmt::format(
        "expert cache ({}): {} uses, {} hits ({:.1f}%), {} misses, {} prefetch hits, "
        "prediction {:.0f}% right | read {} in {} loads ({:.2f} ms/expert) | stalled {:.3f} s | "
        "{} evictions\n",
        cache->options().policy, s.accesses, s.hits, 100 * s.hit_rate(), s.misses, s.prefetch_hits,
        100 * s.prediction_accuracy(), FormatBytes(s.bytes_read), s.loads,
        s.loads ? 1000 * s.load_seconds / s.loads : 0.0, s.stall_seconds, s.evictions);
  }
  if (SageController* sage = engine.sage()) out += sage->Summary();
  return out;
}

nlohmann::ordered_json MemoryJson(Engine& engine) {
  const MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t total = engine.total_expert_bytes();
  const uint64_t expert_peak = ledger.peak(MemoryKind::kExpertCache);
  return {{"expert_budget_bytes", engine.expert_budget_bytes()},
          {"total_expert_bytes", total},
          {"expert_peak_bytes", expert_peak},
          {"dense_bytes", ledger.current(MemoryKind::kDense)},
          {"audio_encoder_bytes", engine.loaded_audio_encoder() != nullptr
                                      ? engine.loaded_audio_encoder()->weight_bytes()
                                      : 0},
          {"vision_encoder_bytes", engine.loaded_vision_encoder() != nullptr
                                       ? engine.loaded_vision_encoder()->weight_bytes()
                                       : 0},
          {"vision_activation_bytes", engine.loaded_vision_encoder() != nullptr
                                          ? engine.loaded_vision_encoder()->activations().bytes()
                                          : 0},
          {"kv_cache_bytes", ledger.peak(MemoryKind::kKvCache)},
          {"activations_peak_bytes", ledger.peak(MemoryKind::kActivations)},
          {"ledger_peak_bytes", ledger.peak_total()},
          {"peak_rss_bytes", PeakRssBytes()},
          {"saved_bytes", total > expert_peak ? total - expert_peak : 0},
          {"memory_plan", engine.memory_plan() != nullptr ? MemoryPlanJson(*engine.memory_plan())
                                                          : nlohmann::ordered_json(nullptr)}};
}

nlohmann::ordered_json CacheStatsJson(const ExpertCacheStats& s) {
  return {{"accesses", s.accesses},
          {"hits", s.hits},
          {"misses", s.misses},
          {"hit_rate", s.hit_rate()},
          {"prefetch_hits", s.prefetch_hits},
          {"prefetches", s.prefetches},
          {"prefetch_wasted", s.prefetch_wasted},
          {"predicted_uses", s.predicted_uses},
          {"predicted_correct", s.predicted_correct},
          {"prediction_accuracy", s.prediction_accuracy()},
          {"loads", s.loads},
          {"bytes_read", s.bytes_read},
          {"load_seconds", s.load_seconds},
          {"stall_seconds", s.stall_seconds},
          {"evictions", s.evictions}};
}

nlohmann::ordered_json CacheJson(Engine& engine) {
  CachedExperts* cache = engine.expert_cache();
  if (cache == nullptr) return nullptr;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  const std::vector<ExpertCacheStats> per_layer = cache->layer_stats();
  for (size_t l = 0; l < per_layer.size(); ++l) {
    if (!engine.config().text.IsMoeLayer(static_cast<int64_t>(l))) continue;
    nlohmann::ordered_json j = {{"layer", l}};
    j.update(CacheStatsJson(per_layer[l]));
    layers.push_back(j);
  }
  return {{"policy", cache->options().policy},
          {"budget_bytes", cache->cache().capacity()},
          {"expert_bytes", cache->expert_bytes()},
          {"peak_usage_bytes", cache->cache().peak_usage()},
          {"total", CacheStatsJson(cache->total_stats())},
          {"layers", layers}};
}

}  // namespace omnisage

#include "server/cache_monitor.h"

#include "runtime/report.h"
#include "util/memory_ledger.h"

namespace omnisage {

CacheMonitor::CacheMonitor(Engine* engine)
    : engine_(engine),
      layers_(engine->config().text.num_layers),
      experts_(engine->config().text.num_experts),
      hits_(layers_ * experts_),
      misses_(layers_ * experts_) {
  engine_->set_routing_listener([this](const RoutingEvent& ev) {
    CachedExperts* cache = engine_->expert_cache();
    std::lock_guard lock(mu_);
    for (int i = 0; i < ev.k; ++i) {
      const int64_t e = ev.experts[i];
      if (ev.layer < 0 || ev.layer >= layers_ || e < 0 || e >= experts_) continue;
      const bool hit = cache == nullptr || cache->IsResident(ev.layer, static_cast<int>(e));
      ++(hit ? hits_ : misses_)[ev.layer * experts_ + e];
    }
  });
}

CacheMonitor::~CacheMonitor() { engine_->set_routing_listener(nullptr); }

nlohmann::ordered_json CacheMonitor::Snapshot() const {
  using json = nlohmann::ordered_json;
  CachedExperts* cache = engine_->expert_cache();
  const DecoderConfig& text = engine_->config().text;
  json moe = json::array(), resident = json::array(), hits = json::array(), misses = json::array();
  {
    std::lock_guard lock(mu_);
    for (int64_t l = 0; l < layers_; ++l) {
      const bool is_moe = text.IsMoeLayer(l);
      if (is_moe) moe.push_back(l);
      std::string row(experts_, '0');
      for (int64_t e = 0; e < experts_ && is_moe; ++e) {
        const bool in =
            cache == nullptr || cache->IsResident(static_cast<int>(l), static_cast<int>(e));
        row[e] = in ? '1' : '0';
      }
      resident.push_back(row);
      hits.push_back(
          std::vector<uint32_t>(hits_.begin() + l * experts_, hits_.begin() + (l + 1) * experts_));
      misses.push_back(std::vector<uint32_t>(misses_.begin() + l * experts_,
                                             misses_.begin() + (l + 1) * experts_));
    }
  }
  const MemoryLedger& ledger = MemoryLedger::Global();
  json by_kind = json::object();
  for (int k = 0; k < kNumMemoryKinds; ++k) {
    const auto kind = static_cast<MemoryKind>(k);
    by_kind[std::string(MemoryKindName(kind))] = ledger.current(kind);
  }
  return {{"layers", layers_},
          {"experts", experts_},
          {"moe_layers", moe},
          {"resident", resident},
          {"hits", hits},
          {"misses", misses},
          {"policy", cache != nullptr ? json(cache->options().policy) : json("resident")},
          {"budget_bytes", engine_->expert_budget_bytes()},
          {"total_expert_bytes", engine_->total_expert_bytes()},
          {"expert_bytes", cache != nullptr ? cache->expert_bytes() : 0},
          {"ledger", by_kind},
          {"cache", cache != nullptr ? CacheStatsJson(cache->total_stats()) : json(nullptr)}};
}

}  // namespace omnisage

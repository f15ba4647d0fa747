// CacheMonitor: the live view of the expert cache that the web page draws. It listens to the
// engine's routing (Engine::set_routing_listener) and counts, per (layer, expert), the uses that
// found the expert in the cache (hits: resident or on its way) and those that had to load it
// (misses); Snapshot adds which experts are resident now and the memory ledger by kind.
//
// Thread-safety: the listener runs on the engine's forward thread; Snapshot may be called from any
// thread. Detaches itself from the engine when destroyed.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "runtime/engine.h"

namespace omnisage {

class CacheMonitor {
 public:
  explicit CacheMonitor(Engine* engine);
  ~CacheMonitor();

  // {"layers": L, "experts": E, "moe_layers": [l, ...], "resident": ["0110…", …] (one string per
  //  layer, '1' resident), "hits": [[…E counts]…L], "misses": [[…]…], "budget_bytes",
  //  "total_expert_bytes", "expert_bytes", "policy", "ledger": {"dense": bytes, "expert_cache",
  //  "kv_cache", "activations"}, "cache": {totals, or null when every expert is resident}}
  nlohmann::ordered_json Snapshot() const;

 private:
  Engine* engine_;
  int64_t layers_ = 0, experts_ = 0;
  mutable std::mutex mu_;
  std::vector<uint32_t> hits_, misses_;  // [layers, experts]
};

}  // namespace omnisage

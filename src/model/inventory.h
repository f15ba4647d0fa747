// What a checkpoint holds and what it costs to hold it: the numbers behind `omnisage inspect`.
//
// An Inventory is computed from tensor headers alone (names, dtypes, shapes): per component its
// tensors, parameters and bytes; per MoE stack its layers, experts, bytes per expert, router bytes
// and experts active per token; and the memory plans that decide whether a model fits a machine.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/tensor_table.h"

namespace omnisage {

struct ComponentStats {
  Component component = Component::kOther;
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t bytes = 0;
  std::vector<int> shards;  // 0-based shard indices holding its tensors, ascending
};

// A stack of MoE layers (the thinker's, the talker's, or Qwen3-MoE's).
struct MoeStackStats {
  Component component = Component::kOther;
  int moe_layers = 0;
  int experts_per_layer = 0;
  int active_per_token = 0;  // from config.json; 0 when unknown
  bool fused = false;        // experts stored as fused 3-D tensors
  uint64_t params_per_expert = 0;
  uint64_t bytes_per_expert = 0;
  uint64_t expert_bytes = 0;  // all routed experts of the stack
  uint64_t router_bytes = 0;  // all routers of the stack
  uint64_t dense_bytes = 0;   // the component's bytes that are not routed experts
};

struct MemoryPlan {
  std::string name;           // "all", "WAKE", "FOCUS", "CRISIS", "budget"
  int experts_per_layer = 0;  // resident per MoE layer (for "budget": how many fit on average)
  uint64_t expert_bytes = 0;  // resident expert bytes
  uint64_t dense_bytes = 0;   // always-resident bytes (everything that is not a routed expert)
  uint64_t total_bytes() const { return expert_bytes + dense_bytes; }
  double reduction = 0;  // 1 - total / everything
};

struct Inventory {
  std::string path;
  std::string kind;        // "checkpoint" or "expert store"
  std::string model_type;  // from config.json, or empty
  std::optional<ModelConfig> config;
  int shards = 0;  // files holding tensor data
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> dtypes;  // dtype name -> tensor count
  std::vector<ComponentStats> components;                // non-empty ones, in Component order
  std::vector<MoeStackStats> moe_stacks;
  uint64_t expert_bytes = 0;  // all routed experts
  uint64_t dense_bytes = 0;   // everything else
  // Largest bytes that one token's active experts of one layer need (the smallest workable cache).
  uint64_t min_budget_bytes = 0;
};

// Builds the inventory from tensor metadata alone; `config` may be null (a bare .safetensors file).
Inventory TakeInventory(const WeightSource& source, const ModelConfig* config);

// Memory plans: everything, then k experts resident per MoE layer for k in {4, 8, 16} (WAKE,
// FOCUS, CRISIS), then one for `budget_bytes` of expert cache when given.
std::vector<MemoryPlan> MemoryPlans(const Inventory& inv,
                                    std::optional<uint64_t> budget_bytes = std::nullopt);

nlohmann::ordered_json InventoryToJson(const Inventory& inv, const std::vector<MemoryPlan>& plans);

}  // namespace omnisage

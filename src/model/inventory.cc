#include "model/inventory.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace omnisage {

namespace {

const DecoderConfig* StackConfig(const ModelConfig* config, Component c) {
  if (config == nullptr) return nullptr;
  if (c == Component::kThinker || c == Component::kText) return &config->text;
  if (c == Component::kTalker && config->has_talker) return &config->talker.text;
  return nullptr;
}

}  // namespace

Inventory TakeInventory(const WeightSource& source, const ModelConfig* config) {
  Inventory inv;
  inv.path = source.path();
  inv.kind = source.kind();
  if (config != nullptr) {
    inv.config = *config;
    inv.model_type = config->model_type;
  }
  inv.shards = static_cast<int>(source.files().size());

  std::array<ComponentStats, kNumComponents> comps;
  std::array<std::set<int>, kNumComponents> comp_shards;
  struct StackAcc {
    std::set<int> layers;
    std::map<std::pair<int, int>, uint64_t> expert_params;  // (layer, expert) -> params
    std::map<std::pair<int, int>, uint64_t> expert_bytes;
    std::map<int, int> fused_experts;  // layer -> experts in fused tensors
    uint64_t fused_params = 0, fused_bytes = 0, router_bytes = 0, expert_bytes_total = 0;
  };
  std::array<StackAcc, kNumComponents> stacks;
  std::map<std::string, uint64_t> dtypes;

  for (const WeightEntry& t : source.tensors()) {
    const TensorKind kind = ClassifyTensor(t.name);
    const int ci = static_cast<int>(kind.component);
    ComponentStats& cs = comps[ci];
    cs.component = kind.component;
    cs.tensors++;
    cs.parameters += t.numel;
    cs.bytes += t.nbytes;
    comp_shards[ci].insert(t.file);
    dtypes[std::string(DTypeName(t.dtype))]++;
    inv.tensors++;
    inv.parameters += t.numel;
    inv.bytes += t.nbytes;
    StackAcc& s = stacks[ci];
    if (kind.role == TensorRole::kRouter) s.router_bytes += t.nbytes;
    if (kind.role != TensorRole::kExpert) continue;
    s.layers.insert(kind.layer);
    s.expert_bytes_total += t.nbytes;
    if (kind.fused()) {
      s.fused_params += t.numel;
      s.fused_bytes += t.nbytes;
      if (!t.shape.empty()) s.fused_experts[kind.layer] = static_cast<int>(t.shape[0]);
    } else {
      s.expert_params[{kind.layer, kind.expert}] += t.numel;
      s.expert_bytes[{kind.layer, kind.expert}] += t.nbytes;
    }
  }

  for (int ci = 0; ci < kNumComponents; ++ci) {
    if (comps[ci].tensors == 0) continue;
    comps[ci].shards.assign(comp_shards[ci].begin(), comp_shards[ci].end());
    inv.components.push_back(comps[ci]);
    const StackAcc& s = stacks[ci];
    if (s.layers.empty()) continue;
    MoeStackStats m;
    m.component = static_cast<Component>(ci);
    m.moe_layers = static_cast<int>(s.layers.size());
    m.expert_bytes = s.expert_bytes_total;
    m.router_bytes = s.router_bytes;
    m.dense_bytes = comps[ci].bytes - s.expert_bytes_total;
    uint64_t n_experts = s.expert_params.size();
    uint64_t params = 0, bytes = 0;
    for (const auto& [key, p] : s.expert_params) params += p;
    for (const auto& [key, b] : s.expert_bytes) bytes += b;
    for (const auto& [layer, n] : s.fused_experts) n_experts += static_cast<uint64_t>(n);
    params += s.fused_params;
    bytes += s.fused_bytes;
    m.fused = !s.fused_experts.empty();
    if (n_experts > 0) {
      m.params_per_expert = params / n_experts;
      m.bytes_per_expert = bytes / n_experts;
      m.experts_per_layer = static_cast<int>(n_experts / s.layers.size());
    }
    if (const DecoderConfig* dc = StackConfig(config, m.component)) {
      m.active_per_token = static_cast<int>(dc->num_experts_per_tok);
    }
    inv.min_budget_bytes = std::max<uint64_t>(
        inv.min_budget_bytes,
        static_cast<uint64_t>(std::max(m.active_per_token, 1)) * m.bytes_per_expert);
    inv.expert_bytes += m.expert_bytes;
    inv.moe_stacks.push_back(m);
  }
  inv.dense_bytes = inv.bytes - inv.expert_bytes;
  for (const auto& [name, count] : dtypes) inv.dtypes.emplace_back(name, count);
  return inv;
}

std::vector<MemoryPlan> MemoryPlans(const Inventory& inv, std::optional<uint64_t> budget_bytes) {
  std::vector<MemoryPlan> plans;
  auto finish = [&](MemoryPlan p) {
    p.dense_bytes = inv.dense_bytes;
    p.reduction = inv.bytes == 0
                      ? 0.0
                      : 1.0 - static_cast<double>(p.total_bytes()) / static_cast<double>(inv.bytes);
    plans.push_back(std::move(p));
  };
  int max_experts = 0;
  for (const MoeStackStats& m : inv.moe_stacks)
    max_experts = std::max(max_experts, m.experts_per_layer);
  finish({.name = "all", .experts_per_layer = max_experts, .expert_bytes = inv.expert_bytes});
  for (auto [name, k] : {std::pair{"WAKE", 4}, {"FOCUS", 8}, {"CRISIS", 16}}) {
    MemoryPlan p{.name = name, .experts_per_layer = std::min(k, max_experts)};
    for (const MoeStackStats& m : inv.moe_stacks) {
      p.expert_bytes += static_cast<uint64_t>(m.moe_layers) *
                        static_cast<uint64_t>(std::min(k, m.experts_per_layer)) *
                        m.bytes_per_expert;
    }
    finish(p);
  }
  if (budget_bytes) {
    MemoryPlan p{.name = "budget", .expert_bytes = std::min(*budget_bytes, inv.expert_bytes)};
    uint64_t per_layer_slot = 0;  // bytes of one expert in every MoE layer of every stack
    for (const MoeStackStats& m : inv.moe_stacks) {
      per_layer_slot += static_cast<uint64_t>(m.moe_layers) * m.bytes_per_expert;
    }
    p.experts_per_layer =
        per_layer_slot == 0
            ? 0
            : std::min<int>(max_experts, static_cast<int>(p.expert_bytes / per_layer_slot));
    finish(p);
  }
  return plans;
}

nlohmann::ordered_json InventoryToJson(const Inventory& inv, const std::vector<MemoryPlan>& plans) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["path"] = inv.path;
  j["kind"] = inv.kind;
  j["model_type"] = inv.model_type;
  j["shards"] = inv.shards;
  j["tensors"] = inv.tensors;
  j["parameters"] = inv.parameters;
  j["bytes"] = inv.bytes;
  j["expert_bytes"] = inv.expert_bytes;
  j["dense_bytes"] = inv.dense_bytes;
  j["min_budget_bytes"] = inv.min_budget_bytes;
  ordered_json dtypes = ordered_json::object();
  for (const auto& [name, count] : inv.dtypes) dtypes[name] = count;
  j["dtypes"] = dtypes;
  ordered_json comps = ordered_json::array();
  for (const ComponentStats& c : inv.components) {
    std::vector<int> shards;
    for (int s : c.shards) shards.push_back(s + 1);
    comps.push_back({{"component", ComponentName(c.component)},
                     {"tensors", c.tensors},
                     {"parameters", c.parameters},
                     {"bytes", c.bytes},
                     {"shards", shards}});
  }
  j["components"] = comps;
  ordered_json stacks = ordered_json::array();
  for (const MoeStackStats& m : inv.moe_stacks) {
    stacks.push_back({{"component", ComponentName(m.component)},
                      {"moe_layers", m.moe_layers},
                      {"experts_per_layer", m.experts_per_layer},
                      {"active_per_token", m.active_per_token},
                      {"fused", m.fused},
                      {"params_per_expert", m.params_per_expert},
                      {"bytes_per_expert", m.bytes_per_expert},
                      {"expert_bytes", m.expert_bytes},
                      {"router_bytes", m.router_bytes},
                      {"dense_bytes", m.dense_bytes}});
  }
  j["moe_stacks"] = stacks;
  ordered_json ps = ordered_json::array();
  for (const MemoryPlan& p : plans) {
    ps.push_back({{"name", p.name},
                  {"experts_per_layer", p.experts_per_layer},
                  {"expert_bytes", p.expert_bytes},
                  {"dense_bytes", p.dense_bytes},
                  {"total_bytes", p.total_bytes()},
                  {"reduction", p.reduction}});
  }
  j["plans"] = ps;
  return j;
}

}  // namespace omnisage

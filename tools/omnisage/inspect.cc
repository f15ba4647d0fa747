// omnisage inspect: what a checkpoint holds and what each memory plan costs. Reads headers only.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "commands.h"
#include "experts/store.h"
#include "io/quant_config.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "model/inventory.h"
#include "model/published_quant.h"
#include "option_flags.h"
#include "runtime/memory_plan.h"
#include "runtime/options.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct InspectArgs {
  std::string path;
  bool json = false;
  std::string budget;
  // The --memory plan: the limit and the request it is for.
  std::string memory;
  std::string needs = "all";
  int64_t context = 4096;
  int threads = 0;
  int io_threads = 2;
  std::string embeddings = "memory";
};

// --needs: "all" (every component the model has), "none" (text in, text out) or a comma list of
// audio, vision, speech.
StatusOr<MemoryNeeds> ParseNeeds(const std::string& text) {
  if (text == "all") return MemoryNeeds{.audio = true, .vision = true, .speech = true};
  MemoryNeeds needs;
  if (text == "none") return needs;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string word = text.substr(start, end - start);
    if (word == "audio") {
      needs.audio = true;
    } else if (word == "vision") {
      needs.vision = true;
    } else if (word == "speech") {
      needs.speech = true;
    } else {
      return InvalidArgument(fmt::format(
          "--needs '{}': '{}' is not one of all, none, audio, vision, speech", text, word));
    }
    start = end + 1;
  }
  return needs;
}

// "1-13" or "14, 15" for a sorted list of 0-based shard indices.
std::string ShardList(const std::vector<int>& shards) {
  std::string out;
  for (size_t i = 0; i < shards.size();) {
    size_t j = i;
    while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", shards[i] + 1)
                  : fmt::format("{}-{}", shards[i] + 1, shards[j] + 1);
    i = j + 1;
  }
  return out;
}

void PrintText(const Inventory& inv, const std::vector<MemoryPlan>& plans) {
  std::printf("%s\n", inv.path.c_str());
  std::printf("  %s %s, %d file%s, %s tensors, %s parameters, %s\n",
              inv.model_type.empty() ? "no config.json," : inv.model_type.c_str(), inv.kind.c_str(),
              inv.shards, inv.shards == 1 ? "" : "s", FormatCount(inv.tensors).c_str(),
              FormatCount(inv.parameters).c_str(), FormatBytes(inv.bytes).c_str());
  std::string dtypes;
  for (const auto& [name, count] : inv.dtypes) {
    dtypes += fmt::format("{}{} x{}", dtypes.empty() ? "" : ", ", name, FormatCount(count));
  }
  std::printf("  dtypes: %s\n\n", dtypes.c_str());

  std::printf("%-15s %9s %17s %12s  %s\n", "component", "tensors", "parameters", "bytes", "files");
  for (const ComponentStats& c : inv.components) {
    std::printf("%-15s %9s %17s %12s  %s\n", std::string(ComponentName(c.component)).c_str(),
                FormatCount(c.tensors).c_str(), FormatCount(c.parameters).c_str(),
                FormatBytes(c.bytes).c_str(), ShardList(c.shards).c_str());
  }

  if (!inv.moe_stacks.empty()) {
    std::printf("\n%-10s %6s %8s %7s %14s %11s %12s %11s %12s\n", "MoE stack", "layers", "experts",
                "active", "params/expert", "bytes/exp.", "all experts", "routers", "dense");
    for (const MoeStackStats& m : inv.moe_stacks) {
      std::printf("%-10s %6d %8d %7s %14s %11s %12s %11s %12s%s\n",
                  std::string(ComponentName(m.component)).c_str(), m.moe_layers,
                  m.experts_per_layer,
                  m.active_per_token > 0 ? std::to_string(m.active_per_token).c_str() : "?",
                  FormatCount(m.params_per_expert).c_str(), FormatBytes(m.bytes_per_expert).c_str(),
                  FormatBytes(m.expert_bytes).c_str(), FormatBytes(m.router_bytes).c_str(),
                  FormatBytes(m.dense_bytes).c_str(), m.fused ? "  (fused 3-D)" : "");
    }
  }

  std::printf("\nMemory plans (resident = dense weights + resident experts)\n");
  std::printf("%-8s %14s %12s %12s %12s %10s\n", "plan", "experts/layer", "experts", "dense",
              "resident", "saved");
  for (const MemoryPlan& p : plans) {
    std::printf("%-8s %14d %12s %12s %12s %9.1f%%\n", p.name.c_str(), p.experts_per_layer,
                FormatBytes(p.expert_bytes).c_str(), FormatBytes(p.dense_bytes).c_str(),
                FormatBytes(p.total_bytes()).c_str(), 100.0 * p.reduction);
  }
  if (inv.min_budget_bytes > 0) {
    std::printf("\nSmallest workable expert budget: %s (one layer's active experts)\n",
                FormatBytes(inv.min_budget_bytes).c_str());
  }
}

// How the checkpoint is quantized: a published format (config.json's quantization_config), per
// component, and the routed experts' format of an OmniSage expert store.
struct QuantReport {
  std::optional<QuantConfig> published;
  std::vector<ComponentQuant> components;
  std::vector<std::pair<std::string, std::string>> stores;  // (stack, "int4 g128")
  std::vector<std::pair<std::string, std::string>> dense;   // (stack, "int8"): --quant-dense
};

void PrintQuant(const QuantReport& r) {
  for (const auto& [stack, format] : r.stores) {
    std::printf("\nRouted experts of the %s: %s (expert store)\n", stack.c_str(), format.c_str());
  }
  for (const auto& [stack, format] : r.dense) {
    std::printf("\nLayer projections%s of the %s: %s (expert store, --quant-dense)\n",
                stack == "thinker" || stack == "model" ? " and lm_head" : "", stack.c_str(),
                format.c_str());
  }
  if (!r.published) return;
  std::printf("\nQuantization: %s\n", DescribeQuantConfig(*r.published).c_str());
  std::printf("%-15s %10s %11s %12s  %s\n", "component", "quantized", "int4-exact", "unquantized",
              "schemes");
  for (const ComponentQuant& c : r.components) {
    std::string schemes;
    for (const auto& [name, n] : c.schemes) {
      schemes += fmt::format("{}{} x{}", schemes.empty() ? "" : ", ", name, FormatCount(n));
    }
    if (c.unmatched > 0) {
      schemes += fmt::format("{}{} packed but left unquantized by the config",
                             schemes.empty() ? "" : "; ", FormatCount(c.unmatched));
    }
    std::printf("%-15s %10s %11s %12s  %s\n", std::string(ComponentName(c.component)).c_str(),
                FormatCount(c.quantized).c_str(), FormatCount(c.int4_compatible).c_str(),
                FormatCount(c.unquantized).c_str(), schemes.empty() ? "-" : schemes.c_str());
  }
}

nlohmann::ordered_json QuantJson(const QuantReport& r) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [stack, format] : r.stores) j["expert_store"][stack] = format;
  for (const auto& [stack, format] : r.dense) j["dense"][stack] = format;
  if (!r.published) return j;
  j["method"] = QuantMethodName(r.published->method);
  j["format"] = r.published->format;
  j["description"] = DescribeQuantConfig(*r.published);
  for (const ComponentQuant& c : r.components) {
    auto& e = j["components"][std::string(ComponentName(c.component))];
    e["quantized_modules"] = c.quantized;
    e["int4_exact_modules"] = c.int4_compatible;
    e["unquantized_2d_weights"] = c.unquantized;
    e["packed_but_unquantized"] = c.unmatched;
    e["schemes"] = c.schemes;
  }
  return j;
}

int RunInspect(const InspectArgs& a, const CLI::App& sub) {
  if (Status s = CheckGivenFlags(sub); !s.ok()) return ReportError(s.message());
  std::optional<SizeSpec> spec;
  if (!a.budget.empty()) {
    auto parsed = ParseSize(a.budget);
    if (!parsed.ok()) return ReportError("--budget: " + parsed.status().message());
    spec = *parsed;
  }
  std::optional<SizeSpec> memory;
  if (!a.memory.empty()) {
    auto parsed = ParseSize(a.memory);
    if (!parsed.ok()) return ReportError("--memory: " + parsed.status().message());
    if (parsed->is_percent) {
      return ReportError("--memory '" + a.memory +
                         "': give a size in bytes with a unit (8GiB), not a percentage");
    }
    memory = *parsed;
  }
  auto needs = ParseNeeds(a.needs);
  if (!needs.ok()) return ReportError(needs.status().message());
  auto source = OpenWeightSource(a.path);
  if (!source.ok()) return ReportError(source.status().message());
  std::optional<ModelConfig> config;
  if (!(*source)->config_path().empty()) {
    auto c = LoadModelConfig((*source)->config_path());
    if (!c.ok()) return ReportError(c.status().message());
    if (Status s = DetectWeightFormats(**source, &*c); !s.ok()) return ReportError(s.message());
    config = std::move(*c);
  }
  QuantReport quant;
  if (!(*source)->config_path().empty()) {
    auto q = LoadQuantConfig((*source)->config_path());
    if (!q.ok()) return ReportError(q.status().message());
    quant.published = std::move(*q);
    if (quant.published) quant.components = TakeQuantInventory(**source, *quant.published);
  }
  if (config) {
    // An expert store's manifest also says how its int4 groups were rounded.
    const auto* expert_store = dynamic_cast<const ExpertStore*>(source->get());
    auto store = [&](const std::string& stack, const DecoderConfig& d) {
      if (d.dense_format != WeightFormat::kBf16) {
        quant.dense.emplace_back(stack, std::string(WeightFormatName(d.dense_format)));
      }
      if (d.expert_format == WeightFormat::kBf16) return;
      std::string format = d.expert_format == WeightFormat::kInt4
                               ? fmt::format("int4 g{}", d.expert_group)
                               : std::string(WeightFormatName(d.expert_format));
      if (d.expert_format == WeightFormat::kInt4 && expert_store != nullptr &&
          expert_store->manifest().quantization.experts == WeightFormat::kInt4) {
        format += fmt::format(
            ", {} rounding", Int4RoundingName(expert_store->manifest().quantization.int4_rounding));
      }
      quant.stores.emplace_back(stack, std::move(format));
    };
    store(config->arch == Arch::kQwen3Moe ? "model" : "thinker", config->text);
    if (config->has_talker) {
      store("talker", config->talker.text);
      store("code_predictor", config->talker.code_predictor);
    }
  }
  std::optional<MemoryLimitPlan> plan;
  if (memory) {
    if (!config) return ReportError(a.path + ": --memory needs config.json beside the weights");
    MemoryPlanInput in{.needs = *needs,
                       .context = a.context,
                       .threads = a.threads > 0 ? a.threads
                                                : static_cast<int>(std::max(
                                                      1u, std::thread::hardware_concurrency())),
                       .io_threads = a.io_threads,
                       .embeddings_on_disk = a.embeddings == "disk"};
    auto p = PlanMemory(*config, in, memory->bytes);
    if (!p.ok()) return ReportError(p.status().message());
    plan = std::move(*p);
  }
  Inventory inv = TakeInventory(**source, config ? &*config : nullptr);
  std::optional<uint64_t> budget;
  if (spec) budget = spec->Resolve(inv.expert_bytes);
  std::vector<MemoryPlan> plans = MemoryPlans(inv, budget);
  if (a.json) {
    nlohmann::ordered_json j = InventoryToJson(inv, plans);
    j["quantization"] = QuantJson(quant);
    if (plan) j["memory_plan"] = MemoryPlanJson(*plan);
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    PrintText(inv, plans);
    PrintQuant(quant);
    if (plan) {
      std::printf("\nMemory plan under --memory %s (context %lld, %s)\n%s", a.memory.c_str(),
                  static_cast<long long>(a.context), a.needs.c_str(),
                  FormatMemoryPlan(*plan).c_str());
    }
  }
  return 0;
}

}  // namespace

void AddInspectCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* sub = app.add_subcommand(
      "inspect", "Show what a checkpoint holds and what each memory plan costs (headers only)");
  sub->add_option("path", args->path, "Checkpoint directory or .safetensors file")->required();
  sub->add_flag("--json", args->json, "Print one JSON object instead of tables");
  sub->add_option("--budget", args->budget,
                  "Add a plan for this expert-cache budget: bytes with a unit (2GiB, 512MiB) or a "
                  "percentage of all expert bytes (25%)");
  sub->add_option("--memory", args->memory,
                  "Print the plan of everything under this hard limit (8GiB): each component's "
                  "weights, KV caches, activations, buffers, and the experts' share");
  sub->add_option("--needs", args->needs,
                  "What the plan is for: all (every component), none (text only) or a list of "
                  "audio, vision, speech")
      ->capture_default_str();
  sub->add_option("--context", args->context, "KV cache capacity in tokens, for the plan")
      ->capture_default_str()
      ->check(InRange({.name = "context", .min = 1, .max = 1 << 20}, true));
  sub->add_option("--threads", args->threads, "Compute threads, for the plan (0: all cores)")
      ->capture_default_str()
      ->check(InRange({.name = "threads", .min = 0, .max = 1024}, true));
  sub->add_option("--io-threads", args->io_threads, "Expert-loading threads, for the plan")
      ->capture_default_str()
      ->check(InRange({.name = "io-threads", .min = 1, .max = 256}, true));
  sub->add_option("--embeddings", args->embeddings,
                  "The thinker's token embeddings, for the plan: memory or disk")
      ->capture_default_str()
      ->check(CLI::IsMember(EmbeddingsModeNames()));
  sub->callback([args, exit_code, sub] { *exit_code = RunInspect(*args, *sub); });
}

}  // namespace omnisage::cli

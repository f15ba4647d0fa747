// omnisage dream: SAGE's DREAM state, offline. Replays routing traces into the trust records
// (usage consolidated with decay) and chooses the hot set that later runs pin in their cache.
#include "sage/dream.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "experts/store.h"
#include "experts/trace.h"
#include "model/expert_provider.h"
#include "option_flags.h"
#include "runtime/engine.h"
#include "sage/trust.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct DreamArgs {
  std::string model;
  std::vector<std::string> traces;
  std::string trust_file;
  std::string budget;
  double decay = 0.5;
};

int RunDream(const DreamArgs& a) {
  // The model must exist: its shape is what the traces are checked against, and the trust file
  // lives beside it by default.
  auto source = OpenWeightSource(a.model);
  if (!source.ok()) return ReportError(source.status().message());
  if ((*source)->config_path().empty()) {
    return ReportError(
        fmt::format("{}: config.json not found (dream checks the traces against "
                    "the model's shape)",
                    a.model));
  }
  auto config = LoadModelConfig((*source)->config_path());
  if (!config.ok()) return ReportError(config.status().message());
  if (Status s = DetectWeightFormats(**source, &*config); !s.ok()) return ReportError(s.message());
  const Component component =
      config->arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  const TraceHeader expected = TraceHeaderOf(*config, component);

  const std::string trust_path = a.trust_file.empty() ? DefaultTrustFile(a.model) : a.trust_file;
  TrustTable table;
  if (FileExists(trust_path)) {
    if (Status s = table.Load(trust_path); !s.ok()) return ReportError(s.message());
    const std::string foreign =
        DescribeForeignTrustKeys(table, component, config->text, trust_path);
    if (!foreign.empty()) std::fprintf(stderr, "warning: %s\n", foreign.c_str());
  }
  std::vector<RoutingDecision> decisions;
  std::map<Component, uint64_t> expert_bytes;
  const uint64_t total = expected.total_expert_bytes;
  for (const std::string& path : a.traces) {
    auto trace = ReadTrace(path);
    if (!trace.ok()) return ReportError(trace.status().message());
    if (Status s = CheckTraceFitsModel(trace->header, expected, path, a.model); !s.ok()) {
      return ReportError(s.message());
    }
    for (const TraceComponent& c : trace->header.components) {
      expert_bytes[c.component] = c.expert_bytes;
    }
    for (TraceRecord& r : trace->records) {
      decisions.push_back({r.component, r.layer, std::move(r.experts), std::move(r.weights)});
    }
  }
  auto spec = ParseSize(a.budget);
  if (!spec.ok()) return ReportError("--budget: " + spec.status().message());
  // The hot set may take half of the budget the next run will have.
  const uint64_t limit = spec->Resolve(total) / 2;
  auto report = Dream(
      decisions, {.decay = a.decay, .byte_limit = limit, .expert_bytes = expert_bytes}, &table);
  if (!report.ok()) return ReportError(report.status().message());
  if (Status s = table.Save(trust_path); !s.ok()) return ReportError(s.message());
  std::printf(
      "dreamed over %lld routing decisions (%lld distinct experts) from %zu trace(s)\n"
      "hot set: %zu experts, %s (limit: half of --budget %s = %s)\n",
      static_cast<long long>(report->decisions), static_cast<long long>(report->experts_used),
      a.traces.size(), report->hot_set.size(), FormatBytes(report->hot_bytes).c_str(),
      a.budget.c_str(), FormatBytes(limit).c_str());
  for (size_t i = 0; i < std::min<size_t>(report->hot_set.size(), 8); ++i) {
    const ExpertKey k = ExpertKey::Unpack(report->hot_set[i]);
    std::printf("  %s layer %d expert %d\n", std::string(ComponentName(k.component)).c_str(),
                k.layer, k.expert);
  }
  std::printf("wrote %s (runs with --mode sage or --policy trust pin the hot set)\n",
              trust_path.c_str());
  return 0;
}

}  // namespace

void AddDreamCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DreamArgs>();
  CLI::App* sub = app.add_subcommand(
      "dream", "Consolidate routing traces into trust records and choose the hot set (DREAM)");
  sub->add_option("--model", args->model, "The model the traces were recorded on")->required();
  sub->add_option("--trace", args->traces, "Routing trace(s) from run --trace")->required();
  sub->add_option("--budget", args->budget,
                  "The expert budget of the runs to come (bytes or %); the hot set takes at "
                  "most half")
      ->required();
  sub->add_option("--trust-file", args->trust_file,
                  "Trust records to update; default: <model>/omnisage-trust.json");
  sub->add_option("--decay", args->decay, "Weight of usage consolidated before, in [0, 1]")
      ->check(InRange({.name = "decay", .min = 0, .max = 1}, /*integral=*/false))
      ->capture_default_str();
  sub->callback([args, exit_code] { *exit_code = RunDream(*args); });
}

}  // namespace omnisage::cli

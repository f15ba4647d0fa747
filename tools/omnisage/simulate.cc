// omnisage simulate: replays a routing trace (run --trace) against expert-cache policies under a
// byte budget, next to Belady's offline optimum (docs/simulate.md).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "experts/eviction_policy.h"
#include "experts/routing_locality.h"
#include "experts/simulator.h"
#include "experts/trace.h"
#include "option_flags.h"
#include "sage/trust.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct SimulateArgs {
  std::string trace;
  std::string budget;
  std::string policy = "all";
  int window = 0;
  bool json = false;
  std::string trust_file;
};

// Hit-rate points by which `r` trails Belady (negative when it does better, which can happen
// only with unequal charges).
double GapPoints(const SimResult& r, const SimResult& belady) {
  return 100.0 * (belady.hit_rate - r.hit_rate);
}

nlohmann::ordered_json ResultJson(const SimResult& r, const SimResult& belady) {
  nlohmann::ordered_json j;
  j["policy"] = r.policy;
  j["accesses"] = r.accesses;
  j["hits"] = r.hits;
  j["misses"] = r.misses;
  j["hit_rate"] = r.hit_rate;
  j["hit_rate_gap_to_belady_points"] = GapPoints(r, belady);
  j["bytes_read"] = r.bytes_read;
  j["evictions"] = r.evictions;
  j["peak_resident_bytes"] = r.peak_resident_bytes;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const SimLayerStats& l : r.layers) {
    layers.push_back({{"component", ComponentName(l.component)},
                      {"layer", l.layer},
                      {"hits", l.hits},
                      {"misses", l.misses}});
  }
  j["layers"] = std::move(layers);
  return j;
}

nlohmann::ordered_json LocalityJson(const RoutingLocality& l) {
  nlohmann::ordered_json j;
  j["window"] = l.window;
  j["reuse_next"] = l.reuse_next;
  j["reuse_window"] = l.reuse_window;
  j["top_decile_share"] = l.top_decile_share;
  j["usage_entropy"] = l.usage_entropy;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerLocality& x : l.layers) {
    layers.push_back({{"component", ComponentName(x.component)},
                      {"layer", x.layer},
                      {"tokens", x.tokens},
                      {"reuse_next", x.reuse_next},
                      {"reuse_window", x.reuse_window},
                      {"top_decile_share", x.top_decile_share},
                      {"usage_entropy", x.usage_entropy}});
  }
  j["layers"] = std::move(layers);
  return j;
}

// Routing locality under the table: reuse at the next token and within the window, and skew.
void PrintLocality(const RoutingLocality& l) {
  std::printf(
      "\nrouting locality: %.1f%% of a token's experts were used by the previous token, %.1f%% "
      "within the previous %d; the most-used tenth of a layer's experts take %.1f%% of its uses "
      "(usage entropy %.3f of uniform)\n",
      100 * l.reuse_next, 100 * l.reuse_window, l.window, 100 * l.top_decile_share,
      l.usage_entropy);
  std::printf("%-10s %6s %8s %10s %11s %10s %8s\n", "component", "layer", "tokens", "next",
              fmt::format("within {}", l.window).c_str(), "top tenth", "entropy");
  for (const LayerLocality& x : l.layers) {
    std::printf("%-10s %6d %8s %9.1f%% %10.1f%% %9.1f%% %8.3f\n",
                std::string(ComponentName(x.component)).c_str(), x.layer,
                FormatCount(x.tokens).c_str(), 100 * x.reuse_next, 100 * x.reuse_window,
                100 * x.top_decile_share, x.usage_entropy);
  }
}

int RunSimulate(const SimulateArgs& a) {
  std::vector<std::string> names;
  if (a.policy == "all") {
    names = EvictionPolicyNames();
  } else {
    auto p = NewEvictionPolicy(a.policy);  // validates the name
    if (!p.ok()) return ReportError("--policy: " + p.status().message() + " or all");
    names.push_back(a.policy);
  }
  auto spec = ParseSize(a.budget);
  if (!spec.ok()) return ReportError("--budget: " + spec.status().message());
  auto trace = ReadTrace(a.trace);
  if (!trace.ok()) return ReportError(trace.status().message());
  const TraceHeader& h = trace->header;
  if (spec->is_percent && h.total_expert_bytes == 0) {
    return ReportError(fmt::format(
        "--budget {}: {}: the header's total_expert_bytes is 0, so a percentage means nothing",
        a.budget, a.trace));
  }
  const uint64_t budget = spec->Resolve(h.total_expert_bytes);
  const uint64_t minimum = MinimumSimBudget(*trace);
  if (budget < minimum) {
    return ReportError(fmt::format(
        "--budget {}: {} ({} bytes) is too small for {}: the minimum is {} bytes ({}), one "
        "expert of the largest kind the trace uses",
        a.budget, FormatBytes(budget), budget, a.trace, minimum, FormatBytes(minimum)));
  }
  SimOptions options;
  options.window = a.window;
  TrustTable trust;
  if (!a.trust_file.empty()) {
    if (Status s = trust.Load(a.trust_file); !s.ok()) return ReportError(s.message());
  }

  std::vector<SimResult> results;
  for (const std::string& name : names) {
    // trust: the --trust-file's records, else every expert neutral
    auto policy = NewEvictionPolicy(name, a.trust_file.empty() ? nullptr : trust.Lookup());
    if (!policy.ok()) return ReportError(policy.status().message());
    auto r = SimulateCache(*trace, budget, policy->get(), options);
    if (!r.ok()) return ReportError(fmt::format("{}: {}", a.trace, r.status().message()));
    results.push_back(std::move(*r));
  }
  auto belady = SimulateCache(*trace, budget, nullptr, options);
  if (!belady.ok()) return ReportError(fmt::format("{}: {}", a.trace, belady.status().message()));

  std::set<int64_t> steps;
  for (const TraceRecord& r : trace->records) steps.insert(r.step);
  std::set<Component> used;
  for (const TraceRecord& r : trace->records) used.insert(r.component);
  const double percent =
      h.total_expert_bytes ? 100.0 * static_cast<double>(budget) / h.total_expert_bytes : 0.0;

  if (a.json) {
    nlohmann::ordered_json j;
    j["trace"] = a.trace;
    j["model"] = h.model;
    j["steps"] = steps.size();
    j["records"] = trace->records.size();
    j["layer_passes"] = belady->layer_passes;
    j["accesses"] = belady->accesses;
    j["distinct_experts"] = belady->distinct_experts;
    j["budget_bytes"] = budget;
    j["total_expert_bytes"] = h.total_expert_bytes;
    j["budget_percent_of_expert_bytes"] =
        h.total_expert_bytes ? nlohmann::ordered_json(percent) : nlohmann::ordered_json(nullptr);
    j["minimum_budget_bytes"] = minimum;
    nlohmann::ordered_json windows = nlohmann::ordered_json::object();
    for (const TraceComponent& c : h.components) {
      if (used.count(c.component)) {
        windows[std::string(ComponentName(c.component))] = SimWindow(c, budget, options);
      }
    }
    j["pin_window"] = std::move(windows);
    nlohmann::ordered_json rs = nlohmann::ordered_json::array();
    for (const SimResult& r : results) rs.push_back(ResultJson(r, *belady));
    rs.push_back(ResultJson(*belady, *belady));
    j["results"] = std::move(rs);
    j["locality"] = LocalityJson(MeasureLocality(*trace));
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf(
      "%s: %s, %zu steps, %s records, %s layer passes, %s expert uses, %s distinct "
      "experts\n",
      a.trace.c_str(), h.model.empty() ? "(no model name)" : h.model.c_str(), steps.size(),
      FormatCount(trace->records.size()).c_str(), FormatCount(belady->layer_passes).c_str(),
      FormatCount(belady->accesses).c_str(), FormatCount(belady->distinct_experts).c_str());
  std::string windows;
  for (const TraceComponent& c : h.components) {
    if (!used.count(c.component)) continue;
    windows += fmt::format("{}{} {}", windows.empty() ? "" : ", ", ComponentName(c.component),
                           SimWindow(c, budget, options));
  }
  if (h.total_expert_bytes) {
    std::printf("budget: %s bytes (%s) = %.2f%% of all expert bytes (%s); pin window: %s\n\n",
                FormatCount(budget).c_str(), FormatBytes(budget).c_str(), percent,
                FormatBytes(h.total_expert_bytes).c_str(), windows.c_str());
  } else {
    std::printf("budget: %s bytes (%s); pin window: %s\n\n", FormatCount(budget).c_str(),
                FormatBytes(budget).c_str(), windows.c_str());
  }
  std::printf("%-8s %9s %14s %14s %12s %12s %14s\n", "policy", "hit rate", "hits", "misses",
              "bytes read", "evictions", "gap to belady");
  auto row = [&](const SimResult& r, bool is_belady) {
    const std::string gap = is_belady ? "-" : fmt::format("{:.2f} pts", GapPoints(r, *belady));
    std::printf("%-8s %8.2f%% %14s %14s %12s %12s %14s\n", r.policy.c_str(), 100.0 * r.hit_rate,
                FormatCount(r.hits).c_str(), FormatCount(r.misses).c_str(),
                FormatBytes(r.bytes_read).c_str(), FormatCount(r.evictions).c_str(), gap.c_str());
  };
  for (const SimResult& r : results) row(r, false);
  row(*belady, true);
  bool any_trust = false;
  for (const std::string& n : names) any_trust |= n == "trust";
  if (any_trust && a.trust_file.empty()) {
    std::printf(
        "\ntrust: a trace carries no trust records, so every expert reads as neutral "
        "(convergence = stability = 0.5)\n");
  }
  PrintLocality(MeasureLocality(*trace));
  std::set<uint64_t> sizes;
  for (Component c : used) sizes.insert(h.Find(c)->expert_bytes);
  if (sizes.size() > 1) {
    std::printf(
        "belady: experts of different sizes in one cache, so farthest-next-use is a "
        "heuristic here, not the proven optimum\n");
  }
  return 0;
}

}  // namespace

void AddSimulateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* sub = app.add_subcommand(
      "simulate",
      "Replay a routing trace against expert-cache policies under a budget, next to Belady");
  sub->add_option("--trace", args->trace, "Routing trace written by run --trace (JSON Lines)")
      ->required();
  sub->add_option("--budget", args->budget,
                  "Expert-cache budget: bytes with a unit (2GiB, 512MiB) or a percentage of all "
                  "expert bytes in the trace header (25%)")
      ->required();
  sub->add_option("--policy", args->policy, "lru, lfu, cycle, trust or all (Belady is always run)")
      ->default_val("all");
  sub->add_option("--window", args->window,
                  "Experts of a layer pass pinned together (default: the component's k; never "
                  "more than fit in the budget)")
      ->check(InRange({.name = "window", .min = 1}, /*integral=*/true));
  sub->add_option("--trust-file", args->trust_file,
                  "Trust records (e.g. <model>/omnisage-trust.json) for the trust policy");
  sub->add_flag("--json", args->json, "Print one JSON object instead of a table");
  sub->callback([args, exit_code] { *exit_code = RunSimulate(*args); });
}

}  // namespace omnisage::cli

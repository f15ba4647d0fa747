// Eviction policy parameters swept over a routing trace: replays `trace` (experts/trace.h) through
// the cache simulator at each budget with LRU, LFU at several half-lives (in accesses), the cycle
// policy at several half-lives (in passes of a layer), the trust policy at several weightings
// (with --trust-file's records, else neutral) and Belady, and prints a Markdown table of hit rates
// (docs/simulate.md, "Tuning the policies").
//
//   policy_sweep --trace FILE [--budget 5% --budget 10% ...] [--trust-file FILE]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "experts/eviction_policy.h"
#include "experts/simulator.h"
#include "experts/trace.h"
#include "sage/trust.h"
#include "util/units.h"

namespace omnisage {
namespace {

struct Candidate {
  std::string label;
  std::function<std::unique_ptr<EvictionPolicy>()> make;  // null: Belady
};

int Main(const std::string& trace_path, const std::vector<std::string>& budgets,
         const std::string& trust_file) {
  auto trace = ReadTrace(trace_path);
  if (!trace.ok()) {
    std::fprintf(stderr, "policy_sweep: %s\n", trace.status().message().c_str());
    return 1;
  }
  TrustTable trust;
  if (!trust_file.empty()) {
    if (Status s = trust.Load(trust_file); !s.ok()) {
      std::fprintf(stderr, "policy_sweep: %s\n", s.message().c_str());
      return 1;
    }
  }
  std::vector<Candidate> candidates = {{"lru", [] { return NewLruPolicy(); }}};
  for (double h : {4, 16, 64, 256}) {
    candidates.push_back(
        {fmt::format("lfu, half-life {} passes", h), [h] { return NewLfuPolicy(h); }});
  }
  for (double h : {1, 4, 16, 32, 64, 128}) {
    candidates.push_back(
        {fmt::format("cycle, half-life {} passes", h), [h] { return NewCyclePolicy(h); }});
  }
  const char* records = trust_file.empty() ? "no records" : "--trust-file";
  const std::vector<TrustWeights> weightings = {
      {1, 0, 0, 0},       {0.8, 0.1, 0.1, 0}, {0.6, 0.2, 0.2, 0},    {0.4, 0.25, 0.25, 0.1},
      {0.4, 0.5, 0, 0.1}, {0.4, 0, 0.5, 0.1}, {0.2, 0.35, 0.35, 0.1}};
  for (const TrustWeights& w : weightings) {
    candidates.push_back({fmt::format("trust ({}), weights {}/{}/{}/{}", records, w.next_use,
                                      w.convergence, w.stability, w.size),
                          [&trust, &trust_file, w] {
                            return NewTrustPolicy(trust_file.empty() ? nullptr : trust.Lookup(), w);
                          }});
  }
  candidates.push_back({"belady", nullptr});

  std::printf("hit rate over %zu trace records of %s\n\n| policy |", trace->records.size(),
              trace_path.c_str());
  std::vector<uint64_t> bytes;
  for (const std::string& b : budgets) {
    auto spec = ParseSize(b);
    if (!spec.ok()) {
      std::fprintf(stderr, "policy_sweep: --budget %s: %s\n", b.c_str(),
                   spec.status().message().c_str());
      return 1;
    }
    bytes.push_back(spec->Resolve(trace->header.total_expert_bytes));
    std::printf(" %s |", b.c_str());
  }
  std::string rule = "\n|---|";
  for (size_t i = 0; i < budgets.size(); ++i) rule += "---|";
  std::printf("%s\n", rule.c_str());
  for (const Candidate& c : candidates) {
    std::printf("| %s |", c.label.c_str());
    for (uint64_t budget : bytes) {
      std::unique_ptr<EvictionPolicy> policy = c.make ? c.make() : nullptr;
      auto r = SimulateCache(*trace, budget, policy.get());
      if (!r.ok()) {
        std::fprintf(stderr, "policy_sweep: %s\n", r.status().message().c_str());
        return 1;
      }
      std::printf(" %.1f%% |", 100 * r->hit_rate);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  CLI::App app{"Eviction policy parameters swept over a routing trace"};
  std::string trace, trust_file;
  std::vector<std::string> budgets;
  app.add_option("--trace", trace, "Routing trace (omnisage bench --trace)")->required();
  app.add_option("--budget", budgets, "Budgets (bytes, units or % of the expert bytes)")
      ->default_str("5% 10% 25% 50%");
  app.add_option("--trust-file", trust_file, "Trust records for the trust policy");
  CLI11_PARSE(app, argc, argv);
  if (budgets.empty()) budgets = {"5%", "10%", "25%", "50%"};
  return omnisage::Main(trace, budgets, trust_file);
}

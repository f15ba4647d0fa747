#include "generate_flags.h"

#include <fmt/format.h>

#include <climits>
#include <cstdlib>

#include "util/proc_memory.h"
#include "util/units.h"

namespace omnisage::cli {

void AddEngineFlags(CLI::App* sub, EngineArgs* a) {
  sub->add_option("--model", a->model, "Checkpoint directory or expert store")->required();
  sub->add_option("--threads", a->threads, "Threads (0: all cores)")->capture_default_str();
  sub->add_option("--context", a->context, "KV cache capacity in tokens")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--budget", a->budget,
                  "Hard cap on expert memory: bytes with a unit (2GiB) or a percentage of all "
                  "expert bytes (25%); default: every expert resident");
  sub->add_option("--policy", a->policy, "Expert cache eviction policy: lru, lfu or trust")
      ->capture_default_str();
  sub->add_option("--io-threads", a->io_threads, "Threads loading experts")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--no-prefetch", a->no_prefetch,
                "Do not predict and prefetch the next layer's experts during decode");
  sub->add_option("--mode", a->mode,
                  "exact: the router's top-k, output equals an unlimited run; sage: SAGE "
                  "selection (approximate, docs/sage.md)")
      ->check(CLI::IsMember({"exact", "sage"}))
      ->capture_default_str();
  sub->add_option("--state", a->state,
                  "Pin a metabolic state (sage): wake, focus, crisis, rest or dream");
  sub->add_option("--reward", a->reward, "Reward signal in [-1, 1] (sage)")
      ->check(CLI::Range(-1.0, 1.0));
  sub->add_option("--trust-file", a->trust_file,
                  "Trust records (sage, --policy trust); default: <model>/omnisage-trust.json");
  sub->add_option("--trace", a->trace,
                  "Write the routing of every token and layer here (JSON Lines; omnisage "
                  "simulate replays it)");
}

EngineOptions MakeEngineOptions(const EngineArgs& a) {
  return {.model = a.model,
          .threads = a.threads,
          .context = a.context,
          .budget = a.budget,
          .policy = a.policy,
          .io_threads = a.io_threads,
          .prefetch = !a.no_prefetch,
          .mode = a.mode,
          .state = a.state,
          .reward = a.reward,
          .trust_file = a.trust_file,
          .trace = a.trace};
}

void AddGenerateFlags(CLI::App* sub, GenerateArgs* a) {
  AddEngineFlags(sub, &a->engine);
  sub->add_option("--max-tokens", a->max_tokens, "Most tokens to generate per answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--system", a->system, "System prompt");
  sub->add_option("--temperature", a->sampling.temperature, "0 is greedy")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--top-k", a->sampling.top_k, "Keep the k most likely tokens (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--top-p", a->sampling.top_p, "Nucleus mass (1: off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--min-p", a->sampling.min_p, "Drop tokens below min-p x the top probability")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--repetition-penalty", a->sampling.repetition_penalty, "1: off")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seed", a->sampling.seed, "Sampling seed")->capture_default_str();
}

StatusOr<std::vector<int32_t>> ParseTokenIds(const std::string& s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(pos, comma - pos);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || end != item.c_str() + item.size() || v < 0 || v > INT32_MAX) {
      return InvalidArgument(fmt::format("'{}' is not a token id", item));
    }
    ids.push_back(static_cast<int32_t>(v));
    pos = comma + 1;
  }
  return ids;
}

std::string SummaryLine(const GenerateStats& s) {
  std::string warnings;
  for (const std::string& w : s.warnings) warnings += "\nwarning: " + w;
  return fmt::format(
             "prompt {} tok {:.1f} tok/s | decode {} tok {:.1f} tok/s | TTFT {:.3f} s | peak RSS "
             "{}",
             s.prompt_tokens, s.prefill_tok_s(), s.generated_tokens, s.decode_tok_s(),
             s.ttft_seconds, FormatBytes(PeakRssBytes())) +
         warnings;
}

}  // namespace omnisage::cli

// How far SAGE mode moves from exact routing: teacher-forced over a fixed text, the next-token
// distribution of an exact engine against a SAGE engine, per metabolic state and budget. Prints
// a Markdown table: mean KL(exact || sage) in nats, top-1 agreement, experts run per layer, and
// the bytes each run read from disk.
//
//   sage_vs_exact --model DIR [--tokens N] [--text-file FILE] [--budget SIZE]...
//   (budgets: "" = unlimited; the text: FILE's, or a built-in paragraph repeated as needed)
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "io/file.h"
#include "ops/ops.h"
#include "runtime/engine.h"
#include "util/units.h"

namespace omnisage {
namespace {

constexpr const char* kText =
    "Memory is the scarce resource on small machines. A mixture of experts model touches only a "
    "few of its experts for each token, so the rest can wait on disk until the router asks for "
    "them. The question is how often the router asks for something that is not already in "
    "memory, and what it costs to say no. Exact routing never says no: every token runs the "
    "experts its router chose. An approximate policy may prefer what is resident, trusted or "
    "cheap, and this benchmark measures what that preference does to the next-token "
    "distribution, state by state, so the trade is made with numbers rather than hope.";

struct Row {
  std::string budget, state;
  double kl = 0, top1 = 0, experts_per_layer = 0;
  uint64_t bytes_read = 0, exact_bytes_read = 0;
};

StatusOr<Row> Compare(const std::string& model, const std::string& budget, const std::string& state,
                      const std::vector<int32_t>& ids) {
  EngineOptions exact_options{.model = model, .threads = 2, .context = 1024, .budget = budget};
  EngineOptions sage_options = exact_options;
  sage_options.mode = "sage";
  sage_options.sage.state = state == "auto" ? "" : state;
  sage_options.sage.trust_file = "/dev/null/none";  // fresh trust records, never saved
  OMNI_ASSIGN_OR_RETURN(auto exact, Engine::Load(exact_options));
  OMNI_ASSIGN_OR_RETURN(auto sage, Engine::Load(sage_options));
  const int64_t vocab = exact->model().vocab_size();
  KvCache ce = exact->model().NewCache(1024), cs = sage->model().NewCache(1024);
  std::vector<float> pe(vocab), ps(vocab);
  Row row{budget.empty() ? "unlimited" : budget, state};
  int agree = 0;
  const size_t n = ids.size() - 1;
  for (size_t t = 0; t < n; ++t) {
    exact->BeginForward();
    OMNI_RETURN_IF_ERROR(exact->model().Forward(&ids[t], 1, &ce, false, pe.data(), &exact->pool()));
    sage->BeginForward();
    OMNI_RETURN_IF_ERROR(sage->model().Forward(&ids[t], 1, &cs, false, ps.data(), &sage->pool()));
    // SAGE sees the text's next token as the one "sampled" (surprise), as in a real run.
    sage->AfterToken(ps.data(), ids[t + 1], 0);
    ops::Softmax(pe.data(), vocab);
    ops::Softmax(ps.data(), vocab);
    double kl = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (pe[i] > 0) kl += pe[i] * (std::log(pe[i]) - std::log(std::max(ps[i], 1e-30f)));
    }
    row.kl += kl;
    agree += std::max_element(pe.begin(), pe.end()) ==
             pe.begin() + (std::max_element(ps.begin(), ps.end()) - ps.begin());
  }
  row.kl /= static_cast<double>(n);
  row.top1 = static_cast<double>(agree) / static_cast<double>(n);
  const auto j = sage->sage()->ToJson();
  row.experts_per_layer = j["decisions"].get<double>() > 0
                              ? j["experts_chosen"].get<double>() / j["decisions"].get<double>()
                              : 0;
  if (sage->expert_cache() != nullptr) {
    sage->expert_cache()->Drain();
    exact->expert_cache()->Drain();
    row.bytes_read = sage->expert_cache()->total_stats().bytes_read;
    row.exact_bytes_read = exact->expert_cache()->total_stats().bytes_read;
  }
  return row;
}

int Main(int argc, char** argv) {
  CLI::App app{"SAGE against exact routing: KL divergence and top-1 agreement per state"};
  std::string model;
  int tokens = 96;
  std::vector<std::string> budgets;
  std::string text_file;
  app.add_option("--model", model, "Model directory or expert store")->required();
  app.add_option("--text-file", text_file,
                 "Teacher-force this file's text (e.g. held-out text a trained model has not seen)")
      ->check(CLI::ExistingFile);
  app.add_option("--tokens", tokens, "Text tokens to teacher-force")->capture_default_str();
  app.add_option("--budget", budgets, "Budgets to compare at (default: unlimited and 25%)");
  CLI11_PARSE(app, argc, argv);
  if (budgets.empty()) budgets = {"", "25%"};
  auto probe = Engine::Load({.model = model, .threads = 2, .context = 16});
  if (!probe.ok() || (*probe)->tokenizer() == nullptr) {
    std::fprintf(stderr, "%s: cannot load a model with a tokenizer\n", model.c_str());
    return 1;
  }
  std::string text = kText;
  if (!text_file.empty()) {
    auto read = ReadFileToString(text_file);
    if (!read.ok()) {
      std::fprintf(stderr, "%s\n", read.status().ToString().c_str());
      return 1;
    }
    text = std::move(*read);
  }
  std::vector<int32_t> ids = (*probe)->tokenizer()->Encode(text);
  if (ids.empty()) {
    std::fprintf(stderr, "%s: no text to teacher-force\n", text_file.c_str());
    return 1;
  }
  while (static_cast<int>(ids.size()) < tokens + 1) ids.insert(ids.end(), ids.begin(), ids.end());
  ids.resize(tokens + 1);
  const int k = static_cast<int>((*probe)->config().text.num_experts_per_tok);
  probe->reset();
  std::printf("model %s, %d teacher-forced tokens of %s, model k = %d\n\n", model.c_str(), tokens,
              text_file.empty() ? "the built-in paragraph" : text_file.c_str(), k);
  std::printf(
      "| budget | state | experts per layer | mean KL(exact ‖ sage), nats | top-1 agreement | "
      "bytes read: SAGE / exact |\n|---|---|---|---|---|---|\n");
  for (const std::string& budget : budgets) {
    for (const char* state : {"wake", "focus", "crisis", "auto"}) {
      auto row = Compare(model, budget, state, ids);
      if (!row.ok()) {
        std::fprintf(stderr, "%s\n", row.status().ToString().c_str());
        return 1;
      }
      const std::string bytes = budget.empty() ? "—"
                                               : FormatBytes(row->bytes_read) + " / " +
                                                     FormatBytes(row->exact_bytes_read);
      std::printf("| %s | %s | %.2f | %.4f | %.1f%% | %s |\n", row->budget.c_str(), state,
                  row->experts_per_layer, row->kl, 100 * row->top1, bytes.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) { return omnisage::Main(argc, argv); }

// omnisage extract: turn a checkpoint into an expert store, one file per expert.
#include "experts/extract.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct ExtractArgs {
  std::string model;
  std::string out;
  std::string component = "all";
  std::string layers;
  std::string experts;
  std::string quant = "bf16";
  int64_t group = 128;
  bool quant_dense = false;
  std::string int4_rounding = "search";
  int threads = 0;
  bool json = false;
};

int RunExtract(const ExtractArgs& a) {
  ExtractOptions o;
  o.model = a.model;
  o.out = a.out;
  o.progress = !a.json;
  if (a.component == "thinker") o.components = {Component::kThinker, Component::kText};
  if (a.component == "talker") o.components = {Component::kTalker};
  if (!a.layers.empty()) {
    auto layers = ParseIndexList(a.layers);
    if (!layers.ok()) return ReportError("--layers: " + layers.status().message());
    if (layers->back() - layers->front() + 1 != static_cast<int>(layers->size())) {
      return ReportError("--layers: expected one range A-B");
    }
    o.layers = std::pair(layers->front(), layers->back());
  }
  if (!a.experts.empty()) {
    auto experts = ParseIndexList(a.experts);
    if (!experts.ok()) return ReportError("--experts: " + experts.status().message());
    o.experts = *experts;
  }
  o.quant = *ParseWeightFormat(a.quant);  // CLI::IsMember checked it
  o.group = a.group;
  o.quant_dense = a.quant_dense;
  o.int4_rounding = *ParseInt4Rounding(a.int4_rounding);  // CLI::IsMember checked it
  o.threads = a.threads;
  auto r = ExtractStore(o);
  if (!r.ok()) return ReportError(r.status().message());
  const double rate = r->seconds > 0 ? static_cast<double>(r->bytes_written) / r->seconds : 0;
  if (a.json) {
    nlohmann::ordered_json j = {{"store", a.out},
                                {"files_written", r->files_written},
                                {"files_skipped", r->files_skipped},
                                {"expert_files", r->expert_files},
                                {"bytes_written", r->bytes_written},
                                {"bytes_total", r->bytes_total},
                                {"seconds", r->seconds},
                                {"bytes_per_second", rate},
                                {"peak_rss_bytes", r->peak_rss_bytes}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf(
        "extracted %s into %s: %s files (%s experts), %s written, %s already complete, "
        "%.1f s, %s/s, peak RSS %s\n",
        a.model.c_str(), a.out.c_str(), FormatCount(r->files_written + r->files_skipped).c_str(),
        FormatCount(r->expert_files).c_str(), FormatBytes(r->bytes_written).c_str(),
        FormatCount(r->files_skipped).c_str(), r->seconds,
        FormatBytes(static_cast<uint64_t>(rate)).c_str(), FormatBytes(r->peak_rss_bytes).c_str());
  }
  return 0;
}

}  // namespace

void AddExtractCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ExtractArgs>();
  CLI::App* sub = app.add_subcommand(
      "extract",
      "Turn a checkpoint into an expert store: one file per expert, routers and dense "
      "weights apart, a checksummed manifest (resumable)");
  sub->add_option("model", args->model, "Checkpoint directory or .safetensors file")->required();
  sub->add_option("--out", args->out, "Store directory")->required();
  sub->add_option("--component", args->component, "Which MoE stacks' experts to extract")
      ->check(CLI::IsMember({"thinker", "talker", "all"}))
      ->capture_default_str();
  sub->add_option("--layers", args->layers, "Only experts of these layers, e.g. 0-7");
  sub->add_option("--experts", args->experts, "Only these experts, e.g. 0-15,42");
  sub->add_option("--quant", args->quant,
                  "Store the routed experts as int8 (per-row scales) or int4 (groups with scales "
                  "and zero points); bf16 copies them as they are")
      ->check(CLI::IsMember({"bf16", "int8", "int4"}))
      ->capture_default_str();
  sub->add_option("--group", args->group, "int4 group size: 32, 64 or 128 values per scale")
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  sub->add_flag("--quant-dense", args->quant_dense,
                "Also store the decoder layers' projections (attention, dense MLP, shared expert) "
                "and the thinker's lm_head as int8 with per-row scales");
  sub->add_option("--int4-rounding", args->int4_rounding,
                  "How int4 groups are rounded: search (each group's scale and zero point "
                  "searched for the least squared error) or minmax (AutoAWQ's min-max rounding)")
      ->check(CLI::IsMember({"minmax", "search"}))
      ->capture_default_str();
  sub->add_option(
         "--threads", args->threads,
         "Threads quantizing with --quant / --quant-dense (0: all cores; the store's bytes "
         "do not depend on it)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_flag("--json", args->json, "Print a JSON summary (and no progress bar)");
  sub->callback([args, exit_code] { *exit_code = RunExtract(*args); });
}

}  // namespace omnisage::cli

// omnisage synth: write a generated checkpoint with the real tensor names and dtypes.
#include "model/synth.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "commands.h"
#include "option_flags.h"
#include "util/elapsed.h"
#include "util/units.h"

#ifndef OMNISAGE_DATA_DIR
#define OMNISAGE_DATA_DIR "data"
#endif

namespace omnisage::cli {
namespace {

struct SynthArgs {
  std::string preset = "tiny";
  std::string arch = "qwen3_omni_moe";
  uint64_t seed = 0;
  bool sparse = false;
  bool fused = false;
  int shards = 0;
  std::string out;
  std::string tokenizer;
  std::string thinker_from;
};

int RunSynth(const SynthArgs& a) {
  SynthOptions o;
  auto preset = ParsePreset(a.preset);
  if (!preset.ok()) return ReportError(preset.status().message());
  o.preset = *preset;
  o.arch = a.arch == "qwen3_moe" ? Arch::kQwen3Moe : Arch::kQwen3OmniMoe;
  o.seed = a.seed;
  o.sparse = a.sparse;
  o.layout = a.fused ? ExpertLayout::kFused : ExpertLayout::kPerExpert;
  o.num_shards = a.shards;
  o.out_dir = a.out;
  o.tokenizer_dir = a.tokenizer;
  o.thinker_from = a.thinker_from;
  if (!o.thinker_from.empty() && o.arch != Arch::kQwen3OmniMoe) {
    return ReportError(
        "--thinker-from makes a qwen3_omni_moe twin: leave --arch at qwen3_omni_moe");
  }
  if (o.tokenizer_dir.empty()) {
    const char* env = std::getenv("OMNISAGE_DATA_DIR");
    o.tokenizer_dir = std::string(env != nullptr ? env : OMNISAGE_DATA_DIR) + "/qwen3-tokenizer";
  }
  auto start = std::chrono::steady_clock::now();
  auto report = SynthesizeCheckpoint(o);
  if (!report.ok()) return ReportError(report.status().message());
  double secs = SecondsSince(start);
  if (!a.thinker_from.empty()) std::printf("thinker from %s\n", a.thinker_from.c_str());
  std::printf("wrote %s: %s %s, %s tensors, %s parameters, %s in %d shards%s (%.1f s)\n",
              a.out.c_str(), a.arch.c_str(), a.preset.c_str(), FormatCount(report->tensors).c_str(),
              FormatCount(report->parameters).c_str(), FormatBytes(report->bytes).c_str(),
              report->shards, a.sparse ? ", sparse" : "", secs);
  return 0;
}

}  // namespace

void AddSynthCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand(
      "synth", "Generate a checkpoint with the real tensor names and dtypes, at a preset's scale");
  sub->add_option("--preset", args->preset,
                  "tiny (a few MB, tests), small (real layer dimensions, few layers), full (the "
                  "real model's shapes)")
      ->check(CLI::IsMember({"tiny", "small", "full"}))
      ->capture_default_str();
  sub->add_option("--arch", args->arch, "Architecture")
      ->check(CLI::IsMember({"qwen3_omni_moe", "qwen3_moe"}))
      ->capture_default_str();
  sub->add_option("--seed", args->seed, "Seed of the deterministic weights")->capture_default_str();
  sub->add_flag("--sparse", args->sparse,
                "Leave tensor data as holes (zeros): real-size files that take almost no disk");
  sub->add_flag("--fused", args->fused,
                "Store experts as fused 3-D tensors (mlp.experts.gate_up_proj / down_proj), as "
                "transformers v5 re-saves do");
  sub->add_option("--shards", args->shards, "Number of shards (default: tiny 2, small 4, full 15)")
      ->check(InRange({.name = "shards", .min = 1, .max = 99999}, /*integral=*/true));
  sub->add_option("--out", args->out, "Output directory")->required();
  sub->add_option("--tokenizer", args->tokenizer,
                  "Directory with the Qwen3 tokenizer.json and tokenizer_config.json (default: "
                  "the project's data/qwen3-tokenizer, or $OMNISAGE_DATA_DIR/qwen3-tokenizer)");
  sub->add_option("--thinker-from", args->thinker_from,
                  "A qwen3_moe checkpoint (e.g. data/reference-moe) whose text model becomes the "
                  "thinker; the preset's other components are generated around it")
      ->check(CLI::ExistingDirectory);
  sub->callback([args, exit_code] { *exit_code = RunSynth(*args); });
}

}  // namespace omnisage::cli

// omnisage repack: turn an expert store back into a standard Hugging Face checkpoint.
#include "experts/repack.h"

#include <cstdio>
#include <memory>

#include "commands.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct RepackArgs {
  std::string store;
  std::string out;
};

int RunRepack(const RepackArgs& a) {
  auto r = RepackStore({.store = a.store, .out = a.out});
  if (!r.ok()) return ReportError(r.status().message());
  std::printf("repacked %s into %s: %d shards, %s tensors, %s in %.1f s\n", a.store.c_str(),
              a.out.c_str(), r->shards, FormatCount(r->tensors).c_str(),
              FormatBytes(r->bytes).c_str(), r->seconds);
  return 0;
}

}  // namespace

void AddRepackCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RepackArgs>();
  CLI::App* sub =
      app.add_subcommand("repack",
                         "Write an expert store back as a standard HF checkpoint (index + shards, "
                         "original names, per-expert layout, byte-identical tensors)");
  sub->add_option("store", args->store, "Expert store directory")->required();
  sub->add_option("--out", args->out, "Output checkpoint directory")->required();
  sub->callback([args, exit_code] { *exit_code = RunRepack(*args); });
}

}  // namespace omnisage::cli

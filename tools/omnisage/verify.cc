// omnisage verify: recheck every file, checksum, shape and offset of an expert store.
#include "experts/verify.h"

#include <cstdio>
#include <memory>

#include "commands.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

int RunVerify(const std::string& store) {
  auto r = VerifyStore(store);
  if (!r.ok()) return ReportError(r.status().message());
  for (const VerifyProblem& p : r->problems) {
    std::fprintf(stderr, "BAD %s/%s: %s\n", store.c_str(), p.path.c_str(), p.problem.c_str());
  }
  const double rate = r->seconds > 0 ? static_cast<double>(r->bytes) / r->seconds : 0;
  std::printf(
      "%s (experts %s): %s files, %s checked in %.1f s (%s/s): %s\n", store.c_str(),
      (DescribeStoreQuantization(r->quantization) +
       (r->quantization.dense != WeightFormat::kBf16 ? "; dense int8" : ""))
          .c_str(),
      FormatCount(r->files).c_str(), FormatBytes(r->bytes).c_str(), r->seconds,
      FormatBytes(static_cast<uint64_t>(rate)).c_str(),
      r->problems.empty() ? "OK" : (std::to_string(r->problems.size()) + " bad file(s)").c_str());
  return r->problems.empty() ? 0 : 1;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, int* exit_code) {
  auto store = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Recheck every checksum, shape and file of an expert store; exit 1 if any is bad");
  sub->add_option("store", *store, "Expert store directory")->required();
  sub->callback([store, exit_code] { *exit_code = RunVerify(*store); });
}

}  // namespace omnisage::cli

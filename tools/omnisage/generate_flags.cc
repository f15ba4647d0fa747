#include "generate_flags.h"

#include <fmt/format.h>

#include <climits>
#include <cstdlib>

#include "option_flags.h"
#include "util/proc_memory.h"
#include "util/units.h"

namespace omnisage::cli {

void AddEngineFlags(CLI::App* sub, EngineOptions* options) { AddOptionFlags(sub, options); }

void AddGenerateFlags(CLI::App* sub, GenerateArgs* a) {
  AddEngineFlags(sub, &a->engine);
  AddOptionFlags(sub, &a->generate);
  sub->add_option("--system", a->system, "System prompt");
}

Status CheckEngineFlags(const CLI::App& sub, const EngineOptions& options) {
  OMNI_RETURN_IF_ERROR(CheckGivenFlags(sub));
  return options.Validate();
}

Status CheckGenerateFlags(const CLI::App& sub, const GenerateArgs& args) {
  OMNI_RETURN_IF_ERROR(CheckEngineFlags(sub, args.engine));
  return ValidateOptions(args.generate);
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

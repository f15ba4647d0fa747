// Flags shared by the commands that load a model and generate (run, chat, eval, bench).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/engine.h"
#include "runtime/options.h"

namespace omnisage::cli {

// How the model is loaded and where its experts live (run, chat, eval, bench): one flag per
// option of EngineOptions (runtime/options.h).
void AddEngineFlags(CLI::App* sub, EngineOptions* options);

struct GenerateArgs {
  EngineOptions engine;
  GenerateOptions generate;  // max_tokens and sampling; stop ids are the command's
  std::string system;
};

// The engine flags plus --max-tokens, the sampling flags and --system.
void AddGenerateFlags(CLI::App* sub, GenerateArgs* args);

// Every flag given to `sub` and every option, checked before any model file is opened: the
// first error, or OK.
Status CheckEngineFlags(const CLI::App& sub, const EngineOptions& options);
Status CheckGenerateFlags(const CLI::App& sub, const GenerateArgs& args);

// "1,2,3" -> {1, 2, 3}; an error names the bad item.
StatusOr<std::vector<int32_t>> ParseTokenIds(const std::string& text);

// One line: "prompt 12 tok 85.1 tok/s | decode 31 tok 12.3 tok/s | TTFT 0.14 s | peak RSS 1.2 GiB"
std::string SummaryLine(const GenerateStats& stats);

}  // namespace omnisage::cli

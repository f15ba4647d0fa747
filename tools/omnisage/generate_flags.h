// Flags shared by the commands that generate (run, chat), declared once.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/engine.h"

namespace omnisage::cli {

// How the model is loaded and where its experts live (run, chat, eval, bench).
struct EngineArgs {
  std::string model;
  int threads = 0;
  int64_t context = 4096;
  std::string budget;
  std::string policy = "lru";
  int io_threads = 2;
  bool no_prefetch = false;
  std::string mode = "exact";
  std::string state;
  double reward = 0;
  std::string trust_file;
  std::string trace;
};
void AddEngineFlags(CLI::App* sub, EngineArgs* args);
EngineOptions MakeEngineOptions(const EngineArgs& args);

struct GenerateArgs {
  EngineArgs engine;
  int max_tokens = 256;
  std::string system;
  SamplerOptions sampling;
};

// The engine flags plus sampling, --max-tokens and --system.
void AddGenerateFlags(CLI::App* sub, GenerateArgs* args);

// "1,2,3" -> {1, 2, 3}; an error names the bad item.
StatusOr<std::vector<int32_t>> ParseTokenIds(const std::string& text);

// One line: "prompt 12 tok 85.1 tok/s | decode 31 tok 12.3 tok/s | TTFT 0.14 s | peak RSS 1.2 GiB"
std::string SummaryLine(const GenerateStats& stats);

}  // namespace omnisage::cli

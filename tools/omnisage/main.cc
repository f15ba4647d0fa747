// omnisage: run Qwen3-Omni / Qwen3-MoE models with experts loaded on demand.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <new>

#include "commands.h"

namespace omnisage::cli {

int ReportError(const std::string& message) {
  std::fprintf(stderr, "omnisage: error: %s\n", message.c_str());
  return 1;
}

int RunOmnisage(int argc, char** argv) {
  CLI::App app{"OmniSage: run Qwen3-Omni and Qwen3-MoE with experts loaded on demand"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "omnisage 0.1.0");
  int exit_code = 0;
  omnisage::cli::AddSynthCommand(app, &exit_code);
  omnisage::cli::AddInspectCommand(app, &exit_code);
  omnisage::cli::AddExtractCommand(app, &exit_code);
  omnisage::cli::AddVerifyCommand(app, &exit_code);
  omnisage::cli::AddRepackCommand(app, &exit_code);
  omnisage::cli::AddRunCommand(app, &exit_code);
  omnisage::cli::AddChatCommand(app, &exit_code);
  omnisage::cli::AddServeCommand(app, &exit_code);
  omnisage::cli::AddEvalCommand(app, &exit_code);
  omnisage::cli::AddBenchCommand(app, &exit_code);
  omnisage::cli::AddTokenizeCommand(app, &exit_code);
  omnisage::cli::AddAudioCommand(app, &exit_code);
  omnisage::cli::AddVideoCommand(app, &exit_code);
  omnisage::cli::AddSimulateCommand(app, &exit_code);
  omnisage::cli::AddDreamCommand(app, &exit_code);
  omnisage::cli::AddProfileCommand(app, &exit_code, &argc, argv);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}

}  // namespace omnisage::cli

int main(int argc, char** argv) {
  // The last resort for memory the system will not give (a KV cache larger than the machine
  // allows, within --context's bound): an error message, not an abort.
  try {
    return omnisage::cli::RunOmnisage(argc, argv);
  } catch (const std::bad_alloc&) {
    return omnisage::cli::ReportError(
        "out of memory: the system refused an allocation; a smaller --context (the KV cache) or "
        "--budget needs less");
  }
}

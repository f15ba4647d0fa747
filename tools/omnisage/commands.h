// Subcommands of the `omnisage` CLI, one source file each. Every Add*Command registers its flags
// on `app` and a callback that runs the command and stores its exit status in `*exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace omnisage::cli {

void AddAudioCommand(CLI::App& app, int* exit_code);
void AddVideoCommand(CLI::App& app, int* exit_code);
void AddBenchCommand(CLI::App& app, int* exit_code);
void AddChatCommand(CLI::App& app, int* exit_code);
void AddEvalCommand(CLI::App& app, int* exit_code);
void AddExtractCommand(CLI::App& app, int* exit_code);
void AddInspectCommand(CLI::App& app, int* exit_code);
void AddRepackCommand(CLI::App& app, int* exit_code);
void AddRunCommand(CLI::App& app, int* exit_code);
void AddServeCommand(CLI::App& app, int* exit_code);
void AddSimulateCommand(CLI::App& app, int* exit_code);
void AddDreamCommand(CLI::App& app, int* exit_code);
void AddSynthCommand(CLI::App& app, int* exit_code);
void AddTokenizeCommand(CLI::App& app, int* exit_code);
void AddVerifyCommand(CLI::App& app, int* exit_code);
// `profile` parses only its own flags: this also cuts argv at the first "--" (shortening *argc)
// and keeps the rest as the command to profile, so it must be called before the app parses argv.
void AddProfileCommand(CLI::App& app, int* exit_code, int* argc, char** argv);

// Builds the app with every subcommand, parses argv, runs the chosen command and returns its exit
// status. main() is this; `omnisage profile` calls it again, in-process, for the command it
// profiles.
int RunOmnisage(int argc, char** argv);

// Prints "omnisage: error: <message>" to stderr and returns 1.
int ReportError(const std::string& message);

}  // namespace omnisage::cli

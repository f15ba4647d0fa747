// omnisage profile: runs another omnisage command in this process with a MemorySampler running,
// then writes the memory profile (CSV, table, SVG) and prints the table on stderr.
//
//   omnisage profile [--interval MS] --out DIR -- COMMAND [ARGS...]
//
// The command after "--" is dispatched through RunOmnisage (main.cc), exactly as if it had been
// the whole command line, so the engine's ledger and phase are this process's. The exit status is
// the command's (or 1 when the profile cannot be written after a command that succeeded).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "io/file.h"
#include "profile/report.h"
#include "profile/sampler.h"
#include "util/memory_ledger.h"

namespace omnisage::cli {
namespace {

constexpr const char* kUsage = "omnisage profile [--interval MS] --out DIR -- COMMAND [ARGS...]";
constexpr int kMinIntervalMs = 5;

struct ProfileArgs {
  int interval_ms = 100;
  std::string out;
  bool separator = false;            // "--" was on the command line
  std::vector<std::string> command;  // what follows "--"
};

// "run --model /m --prompt 'two words'": the command as one could type it again.
std::string JoinCommand(const std::vector<std::string>& command) {
  std::string out;
  for (const std::string& arg : command) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += arg;
    } else {
      out += '\'';
      for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

// Creates DIR and checks that a file can be created in it, before the command runs.
Status PrepareOutDir(const std::string& dir) {
  OMNI_RETURN_IF_ERROR(CreateDirectories(dir));
  if (!IsDirectory(dir)) return InvalidArgument(fmt::format("{}: not a directory", dir));
  const std::string probe = dir + "/.omnisage-profile-probe";
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, NewWritableFile(probe));
  Status closed = f->Close();
  unlink(probe.c_str());
  return closed;
}

int RunProfile(const ProfileArgs& a) {
  if (!a.separator) {
    return ReportError(
        fmt::format("profile: missing \"--\" before the command to profile; usage: {}", kUsage));
  }
  if (a.command.empty()) {
    return ReportError(fmt::format("profile: no command after \"--\"; usage: {}", kUsage));
  }
  if (a.out.empty()) {
    return ReportError(fmt::format("profile: --out DIR is required; usage: {}", kUsage));
  }
  if (a.interval_ms < kMinIntervalMs) {
    return ReportError(fmt::format("profile: --interval must be at least {} ms (got {})",
                                   kMinIntervalMs, a.interval_ms));
  }
  if (a.command[0] == "profile") return ReportError("profile: cannot profile `profile` itself");
  if (Status s = PrepareOutDir(a.out); !s.ok()) {
    return ReportError(
        fmt::format("profile: --out {}: cannot write there: {}", a.out, s.message()));
  }

  // The inner command line, with a program name as argv[0].
  std::vector<std::string> storage = {"omnisage"};
  storage.insert(storage.end(), a.command.begin(), a.command.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  MemoryLedger::Global().ResetPeaks();
  MemorySampler sampler(MemorySamplerOptions{.interval = std::chrono::milliseconds(a.interval_ms)});
  sampler.Start();
  int code = 0;
  try {
    code = RunOmnisage(static_cast<int>(storage.size()), argv.data());
  } catch (const std::exception& e) {
    // Still write the profile: how memory grew before an exception (bad_alloc) is the point.
    code = ReportError(fmt::format("profile: the command failed with an exception: {}", e.what()));
  }
  const std::vector<MemorySample> samples = sampler.Stop();
  std::fflush(stdout);

  ReportOptions options;
  options.title = JoinCommand(a.command);
  options.interval_s = a.interval_ms / 1000.0;
  options.page_cache = sampler.page_cache_stats();
  options.ledger_peak_bytes = MemoryLedger::Global().peak_total();
  std::string table;
  if (Status s = WriteProfileFiles(a.out, samples, options, &table); !s.ok()) {
    ReportError(fmt::format("profile: {}", s.message()));
    return code != 0 ? code : 1;
  }
  std::fprintf(stderr, "\n%s\nprofile: wrote %s/memory.csv, memory.txt and memory.svg\n",
               table.c_str(), a.out.c_str());
  return code;
}

}  // namespace

void AddProfileCommand(CLI::App& app, int* exit_code, int* argc, char** argv) {
  auto args = std::make_shared<ProfileArgs>();
  // CLI11 must not see the profiled command: it would take `run` for a sibling subcommand. So the
  // command line is cut at the first "--" here, before the caller parses it.
  if (*argc >= 2 && std::string_view(argv[1]) == "profile") {
    int help = 0;
    for (int i = 2; i < *argc; ++i) {
      const std::string_view arg(argv[i]);
      if (arg == "--") {
        args->separator = true;
        args->command.assign(argv + i + 1, argv + *argc);
        *argc = i;
        break;
      }
      if (help == 0 && (arg == "-h" || arg == "--help")) help = i;
    }
    if (!args->separator) {
      // Nothing to run; parse only "profile" (and a help flag) so the callback reports the error.
      if (help != 0) argv[2] = argv[help];
      *argc = help != 0 ? 3 : 2;
    }
  }
  CLI::App* sub = app.add_subcommand(
      "profile",
      "Run another omnisage command and sample its memory: RSS, page cache, ledger, phase");
  sub->add_option(
      "--interval", args->interval_ms,
      fmt::format("Milliseconds between samples (default 100, at least {})", kMinIntervalMs));
  sub->add_option("--out", args->out,
                  "Directory for memory.csv, memory.txt and memory.svg (created if missing)");
  sub->footer(fmt::format(
      "Usage: {}\nEverything after \"--\" is an omnisage command line, run in this process.",
      kUsage));
  sub->callback([args, exit_code] { *exit_code = RunProfile(*args); });
}

}  // namespace omnisage::cli

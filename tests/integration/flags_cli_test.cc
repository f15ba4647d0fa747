// End-to-end tests of flag checking: every flag of run, chat, eval and bench is checked before any
// model file is opened (a bad value on a model that does not exist names the flag, not the
// model), bad numbers get one readable kind of message, and values that used to crash or be
// ignored (a huge context, a hundred thousand I/O threads, NaN, an empty --budget) are refused.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

class FlagsCliTest : public CliTestDir {
 protected:
  FlagsCliTest() : CliTestDir("omnisage_flags_cli_") {}
};

// Expects `args` to exit 1 with `message` and without having looked at the model.
void ExpectRefused(const std::string& args, const std::string& message) {
  CliResult r = RunCli(args);
  EXPECT_EQ(r.exit_code, 1) << args << ": " << r.out;
  EXPECT_NE(r.out.find("omnisage: error: " + message), std::string::npos) << args << ": " << r.out;
  EXPECT_EQ(r.out.find("nonexistent"), std::string::npos) << args << ": " << r.out;
}

TEST_F(FlagsCliTest, EveryFlagIsCheckedBeforeTheModelLoads) {
  const std::string run = "run --model /nonexistent/model --prompt hi ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--policy bogus", "--policy must be one of lru, lfu, cycle, trust (got 'bogus')"},
      {"--mode fast", "--mode must be one of exact, sage (got 'fast')"},
      {"--mode sage --state sleepy", "--state must be one of wake, focus, crisis, rest, dream"},
      {"--state wake", "--state and --reward need --mode sage"},
      {"--budget lots", "--budget: size 'lots'"},
      {"--budget ''", "--budget is empty"},
      {"--budget 1e99GiB", "--budget: size '1e99GiB': too large"},
      {"--trace ''", "--trace is empty"},
      {"--temperature -1", "--temperature must be >= 0 (got -1)"},
      {"--top-p 2", "--top-p must be between 0 and 1 (got 2)"},
      {"--repetition-penalty 0", "--repetition-penalty must be > 0 (got 0)"},
      {"--max-tokens 0", "--max-tokens must be >= 1 (got 0)"},
      {"--context 0", "--context must be between 1 and 1048576 (got 0)"},
  };
  for (const auto& [flags, message] : cases) ExpectRefused(run + flags, message);
  ExpectRefused("run --model /nonexistent/model --prompt ''", "--prompt is empty");
  ExpectRefused("run --model /nonexistent/model --prompt-ids 1,x",
                "--prompt-ids: 'x' is not a token id");
  ExpectRefused("chat --model /nonexistent/model --top-k -2 < /dev/null",
                "--top-k must be >= 0 (got -2)");
  ExpectRefused(
      "eval --model /nonexistent/model --token-ids 1,2 --logits-out /dev/null --threads -1",
      "--threads must be between 0 and 1024 (got -1)");
  ExpectRefused("bench --model /nonexistent/model --io-threads 0",
                "--io-threads must be between 1 and 256 (got 0)");
  ExpectRefused("inspect /nonexistent/model --budget ''", "--budget is empty");
}

TEST_F(FlagsCliTest, NonFiniteNumbersAreRefused) {
  const std::string run = "run --model /nonexistent/model --prompt hi ";
  for (const std::string flag :
       {"--temperature", "--top-p", "--min-p", "--repetition-penalty", "--mode sage --reward"}) {
    ExpectRefused(run + flag + " nan", flag.substr(flag.rfind("--")) + " must be a finite number");
  }
  ExpectRefused(run + "--temperature 1e99", "--temperature must be a finite number");
}

// These used to abort with std::bad_alloc or std::system_error.
TEST_F(FlagsCliTest, HugeValuesAreBoundedNotACrash) {
  const std::string model = "--model /nonexistent/model ";
  ExpectRefused("run " + model + "--prompt hi --context 10000000000",
                "--context must be between 1 and 1048576 (got 10000000000)");
  ExpectRefused("chat " + model + "--context 10000000000 < /dev/null",
                "--context must be between 1 and 1048576");
  ExpectRefused("bench " + model + "--prompt-tokens 1000000000",
                "--prompt-tokens must be between 1 and 1048576 (got 1000000000)");
  ExpectRefused("bench " + model + "--prompt-tokens 1000000 --gen-tokens 100000",
                "--prompt-tokens + --gen-tokens = 1100000 is more than the largest context");
  ExpectRefused("run " + model + "--prompt hi --io-threads 100000",
                "--io-threads must be between 1 and 256 (got 100000)");
  ExpectRefused("run " + model + "--prompt hi --threads 100000",
                "--threads must be between 0 and 1024 (got 100000)");
}

// Within the flag's bound but beyond what the model was trained for: refused once the config is
// read, before the weights load.
TEST_F(FlagsCliTest, ContextIsBoundedByTheModel) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  for (const std::string cmd : {"run --prompt hi --context 5000", "chat --context 5000 < /dev/null",
                                "bench --prompt-tokens 5000 --gen-tokens 1"}) {
    CliResult r = RunCli(cmd + " --model " + Path("moe"));
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("more than the model's max_position_embeddings, 4096"), std::string::npos)
        << cmd << ": " << r.out;
  }
  CliResult ok = RunCli("run --model " + Path("moe") +
                        " --prompt hi --max-tokens 2 --context 4096 "
                        "--no-prefetch --budget 50% --io-threads 256");
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
}

// Flags outside the option structs read the same way (they used to say "Value 0 not in range
// 0.000000 to 1797...").
TEST_F(FlagsCliTest, RangeMessagesOfOtherCommandsAreReadable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"synth --preset tiny --shards 0 --out " + Path("x"),
       "--shards: must be between 1 and 99999 (got 0)"},
      {"simulate --trace /nonexistent/t --budget 1GiB --window 0",
       "--window: must be >= 1 (got 0)"},
      {"dream --model /nonexistent/model --trace /nonexistent/t --budget 1GiB --decay nan",
       "--decay: must be a finite number (got nan)"},
  };
  for (const auto& [args, message] : cases) {
    CliResult r = RunCli(args);
    EXPECT_NE(r.exit_code, 0) << args << ": " << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << args << ": " << r.out;
  }
}

// Runs the binary as RunCli does, under an address-space limit of `kib` KiB (ulimit -v).
CliResult RunCliWithMemoryLimit(const std::string& args, int kib) {
  const std::string cmd = "ulimit -v " + std::to_string(kib) + "; " +
                          ::omnisage::test_paths::OmnisageBinary() + " " + args + " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Sets every max_position_embeddings in a JSON tree to `value`.
void SetMaxPositions(nlohmann::json& j, int64_t value) {
  if (j.is_object()) {
    for (auto& [key, v] : j.items()) {
      if (key == "max_position_embeddings") {
        v = value;
      } else {
        SetMaxPositions(v, value);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) SetMaxPositions(v, value);
  }
}

// Within every bound, a KV cache the system will not allocate is an error message, not an abort
// (std::bad_alloc reaches main, which reports it).
TEST_F(FlagsCliTest, MemoryTheSystemRefusesIsAnErrorNotAnAbort) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(Path("tiny") + "/config.json"));
  SetMaxPositions(config, int64_t{1} << 20);
  std::ofstream(Path("tiny") + "/config.json") << config.dump();
  // A context of 2^20 tokens takes 512 MiB of KV cache on tiny; 400 MB of address space in all.
  CliResult r = RunCliWithMemoryLimit(
      "run --model " + Path("tiny") + " --prompt hi --max-tokens 2 --context 1048576", 400000);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("omnisage: error: out of memory"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

// --memory end to end: inspect prints the plan and refuses a limit below its minimum, naming it;
// run under the smallest limit for a prompt with audio and an image and a spoken answer gives the
// answer, the waveform and the logits of the run without --memory, and its memory ledger stays
// within the plan's share of the limit; the flag's errors.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "tone_wav.h"

namespace omnisage {
namespace {

const std::string kPng = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/exact.png";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

class MemoryCliTest : public CliTestDir {
 protected:
  MemoryCliTest() : CliTestDir(fmt::format("omnisage_memory_cli_{}_", getpid())) {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  }
  // inspect's plan for this request (JSON), or null when inspect failed.
  nlohmann::json Plan(const std::string& memory, const std::string& needs) {
    const CliResult r = RunCli(fmt::format("inspect {} --json --memory {} --needs {} --context 256 "
                                           "--threads 2",
                                           Path("tiny"), memory, needs),
                               /*with_stderr=*/false);
    if (r.exit_code != 0) return nullptr;
    return nlohmann::json::parse(r.out)["memory_plan"];
  }
};

TEST_F(MemoryCliTest, InspectPrintsThePlanAndNamesTheMinimum) {
  CliResult r = RunCli(fmt::format("inspect {} --memory 1GiB --context 256", Path("tiny")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* item :
       {"Memory plan under --memory 1GiB", "thinker weights", "audio encoder weights",
        "vision encoder weights", "talker weights", "code2wav activations", "I/O buffers",
        "runtime", "experts (100.0%", "smallest limit for this request"}) {
    EXPECT_NE(r.out.find(item), std::string::npos) << item << "\n" << r.out;
  }
  const nlohmann::json all = Plan("1GiB", "all"), text = Plan("1GiB", "none");
  ASSERT_TRUE(all.is_object() && text.is_object());
  EXPECT_GT(all["minimum_limit_bytes"].get<uint64_t>(),
            text["minimum_limit_bytes"].get<uint64_t>());
  const uint64_t min = all["minimum_limit_bytes"];
  EXPECT_TRUE(Plan(std::to_string(min), "all").is_object());
  r = RunCli(
      fmt::format("inspect {} --memory {} --context 256 --threads 2", Path("tiny"), min - 1));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find(fmt::format("({} bytes)", min)), std::string::npos) << r.out;
  r = RunCli(fmt::format("inspect {} --memory 1GiB --needs audio,smell", Path("tiny")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("'smell' is not one of"), std::string::npos) << r.out;
}

TEST_F(MemoryCliTest, RunUnderTheSmallestLimitIsExactAndWithinIt) {
  WriteTone(Path("clip.wav"), 0.7);
  const std::string ask = fmt::format(
      "run --model {} --prompt 'What do you hear and see?' --audio {} --image {} "
      "--max-tokens 6 --threads 2 --context 256 --speak-max-frames 12 "
      "--speak-chunk 4 --json",
      Path("tiny"), Path("clip.wav"), kPng);
  const CliResult free = RunCli(ask + " --speak " + Path("free.wav"), /*with_stderr=*/false);
  ASSERT_EQ(free.exit_code, 0) << free.out;
  // The run's own minimum, from its error below it.
  const CliResult refused =
      RunCli(fmt::format("{} --speak {} --memory 1KiB", ask, Path("refused.wav")));
  ASSERT_EQ(refused.exit_code, 1) << refused.out;
  const size_t at = refused.out.find(" bytes) for this request");
  ASSERT_NE(at, std::string::npos) << refused.out;
  const size_t open = refused.out.rfind('(', at);
  const uint64_t min = std::stoull(refused.out.substr(open + 1, at - open - 1));
  const CliResult limited =
      RunCli(fmt::format("{} --speak {} --memory {}", ask, Path("limited.wav"), min), false);
  ASSERT_EQ(limited.exit_code, 0) << limited.out;
  const auto f = nlohmann::json::parse(free.out), l = nlohmann::json::parse(limited.out);
  EXPECT_EQ(l["token_ids"], f["token_ids"]);
  EXPECT_EQ(Slurp(Path("limited.wav")), Slurp(Path("free.wav")));
  // The thinker's embeddings read from the file: the same answer and waveform (the talker reads
  // the rows too), and a smaller minimum by the table's bytes.
  const CliResult disk =
      RunCli(fmt::format("{} --speak {} --embeddings disk", ask, Path("disk.wav")), false);
  ASSERT_EQ(disk.exit_code, 0) << disk.out;
  EXPECT_EQ(nlohmann::json::parse(disk.out)["token_ids"], f["token_ids"]);
  EXPECT_EQ(Slurp(Path("disk.wav")), Slurp(Path("free.wav")));
  const auto& m = l["memory"];
  ASSERT_TRUE(m["memory_plan"].is_object()) << limited.out;
  EXPECT_EQ(m["memory_plan"]["limit_bytes"], min);
  // At the smallest limit the encoders are released after the prompt's encoding, the expert
  // cache giving up their bytes meanwhile.
  EXPECT_EQ(m["memory_plan"]["encoders_released"], true);
  // Released: none loaded after the answer (the run without a limit keeps them).
  EXPECT_EQ(m["audio_encoder_bytes"], 0);
  EXPECT_EQ(m["vision_encoder_bytes"], 0);
  EXPECT_GT(f["memory"]["audio_encoder_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(f["memory"]["vision_encoder_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(m["expert_budget_bytes"],
            std::min(std::max(m["memory_plan"]["expert_minimum_bytes"].get<uint64_t>(),
                              m["memory_plan"]["encoder_bytes"].get<uint64_t>()),
                     m["total_expert_bytes"].get<uint64_t>()));
  EXPECT_LE(m["ledger_peak_bytes"].get<uint64_t>(),
            m["memory_plan"]["ledger_limit_bytes"].get<uint64_t>());
  EXPECT_LE(m["ledger_peak_bytes"].get<uint64_t>(), min);
  // Each kind of memory stays within what the plan gives that kind.
  uint64_t planned_kv = 0, planned_act = 0;
  for (const auto& item : m["memory_plan"]["items"]) {
    if (item["ledger"] == "kv_cache") planned_kv += item["bytes"].get<uint64_t>();
    if (item["ledger"] == "activations") planned_act += item["bytes"].get<uint64_t>();
  }
  EXPECT_LE(m["kv_cache_bytes"].get<uint64_t>(), planned_kv);
  EXPECT_LE(m["activations_peak_bytes"].get<uint64_t>(), planned_act);
  EXPECT_LE(m["expert_peak_bytes"].get<uint64_t>(), m["expert_budget_bytes"].get<uint64_t>());
}

// bench and chat take the same flag: bench's expert budget is the plan's, chat plans both encoders
// (an image may come with any message) and answers under the limit.
TEST_F(MemoryCliTest, BenchAndChatUnderALimit) {
  CliResult r = RunCli(fmt::format("bench --model {} --memory 200MiB --prompt-tokens 16 "
                                   "--gen-tokens 4 --repeat 1 --json",
                                   Path("tiny")),
                       /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto b = nlohmann::json::parse(r.out);
  EXPECT_EQ(b["budget"], "memory 200MiB");
  EXPECT_EQ(b["budget_bytes"], b["memory"]["memory_plan"]["expert_budget_bytes"]);
  r =
      RunCli(fmt::format("chat --model {} --memory 200MiB --max-tokens 4 --threads 2 --context 256 "
                         "2>&1 <<'EOF'\nHello\n/image {}\nWhat is it?\nEOF\n",
                         Path("tiny"), kPng));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const size_t lines = CountOf(r.out, "memory limit: 200.00 MiB");
  EXPECT_EQ(lines, 2u) << r.out;
  EXPECT_NE(r.out.find("vision encoder:"), std::string::npos) << r.out;
}

TEST_F(MemoryCliTest, FlagErrors) {
  const std::string run = "run --model " + Path("tiny") + " --prompt hi --max-tokens 2";
  CliResult r = RunCli(run + " --memory 50%");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("not a percentage"), std::string::npos) << r.out;
  r = RunCli(run + " --memory 1GiB --budget 50%");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--memory and --budget"), std::string::npos) << r.out;
  r = RunCli(run + " --memory 1MiB");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--memory 1.00 MiB is below the minimum of"), std::string::npos) << r.out;
  r = RunCli(run + " --memory lots");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--memory: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

// End-to-end tests of `omnisage bench` on the tiny Qwen3-MoE checkpoint: the JSON's keys and
// their sanity, the unlimited run's null cache figures, the text table, and refused flags.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

// Benchmarks print progress on stderr: tests read stdout alone unless they ask.
CliResult RunStdout(const std::string& args, bool with_stderr = false) {
  return RunCli(args, with_stderr);
}

class BenchCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        ("omnisage_bench_cli_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    CliResult s = RunStdout("synth --preset tiny --arch qwen3_moe --out " + Model(), true);
    ASSERT_EQ(s.exit_code, 0) << s.out;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Model() { return (*dir_ / "tiny").string(); }

  static void ExpectSummary(const nlohmann::json& s, const char* name) {
    ASSERT_TRUE(s.is_object()) << name << ": " << s.dump();
    const double median = s["median"], lo = s["min"], hi = s["max"];
    EXPECT_LE(lo, median) << name;
    EXPECT_LE(median, hi) << name;
  }

  static fs::path* dir_;
};

fs::path* BenchCliTest::dir_ = nullptr;

TEST_F(BenchCliTest, BudgetJsonHasEveryFigure) {
  CliResult r = RunStdout("bench --model " + Model() +
                          " --budget 50% --prompt-tokens 16 --gen-tokens 8 --repeat 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], Model());
  EXPECT_EQ(j["repeat"], 2);
  EXPECT_EQ(j["prompt_tokens"], 16);
  EXPECT_EQ(j["gen_tokens"], 8);
  ASSERT_EQ(j["prompt_ids"].size(), 16u);
  const uint64_t total = j["total_expert_bytes"];
  const uint64_t budget = j["budget_bytes"];
  EXPECT_GT(total, 0u);
  EXPECT_GT(budget, 0u);
  EXPECT_LE(budget, total / 2);
  EXPECT_GT(j["load_s"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GE(j["peak_rss_bytes"].get<uint64_t>(), j["load_peak_rss_bytes"].get<uint64_t>());
  EXPECT_EQ(j["memory"]["expert_budget_bytes"], budget);
  for (const char* key : {"prefill_tok_s", "decode_tok_s", "ttft_s", "cache_hit_rate",
                          "bytes_read_per_token", "stall_s"}) {
    ExpectSummary(j[key], key);
  }
  EXPECT_GT(j["prefill_tok_s"]["min"].get<double>(), 0);
  EXPECT_GT(j["decode_tok_s"]["min"].get<double>(), 0);
  for (const char* key : {"cache_hit_rate"}) {
    EXPECT_GE(j[key]["min"].get<double>(), 0) << key;
    EXPECT_LE(j[key]["max"].get<double>(), 1) << key;
  }
  // Half the experts cannot hold the whole model: something is read in the timed repetitions.
  ASSERT_TRUE(j["expert_load_ms"].is_object()) << j.dump();
  ExpectSummary(j["expert_load_ms"], "expert_load_ms");
  ExpectSummary(j["expert_load_gb_s"], "expert_load_gb_s");
  EXPECT_GT(j["bytes_read_per_token"]["max"].get<double>(), 0);
  ASSERT_EQ(j["repetitions"].size(), 2u);
  for (const auto& rep : j["repetitions"]) {
    EXPECT_EQ(rep["generated_tokens"], 8);
    const auto& c = rep["cache"];
    EXPECT_EQ(c["accesses"].get<uint64_t>(),
              c["hits"].get<uint64_t>() + c["misses"].get<uint64_t>());
    // The prefill and decode parts add up to the repetition.
    EXPECT_EQ(rep["cache_prefill"]["bytes_read"].get<uint64_t>() +
                  rep["cache_decode"]["bytes_read"].get<uint64_t>(),
              c["bytes_read"].get<uint64_t>());
  }
}

TEST_F(BenchCliTest, UnlimitedHasNullCacheFigures) {
  CliResult r = RunStdout("bench --model " + Model() +
                          " --prompt-tokens 8 --gen-tokens 4 --repeat 1 --warmup 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["budget"], "unlimited");
  EXPECT_TRUE(j["budget_bytes"].is_null());
  for (const char* key : {"cache_hit_rate", "bytes_read_per_token", "expert_load_ms",
                          "expert_load_gb_s", "stall_s"}) {
    EXPECT_TRUE(j[key].is_null()) << key;
  }
  ExpectSummary(j["decode_tok_s"], "decode_tok_s");
  EXPECT_EQ(j["repeat"], 1);
}

TEST_F(BenchCliTest, SamePromptIdsEveryRun) {
  const std::string args = "bench --model " + Model() +
                           " --prompt-tokens 12 --gen-tokens 2 --repeat 1 --warmup 0 --json";
  CliResult a = RunStdout(args), b = RunStdout(args + " --budget 50% --cold");
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(b.exit_code, 0) << b.out;
  const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["prompt_ids"], jb["prompt_ids"]);
  EXPECT_TRUE(jb["cold"].get<bool>());
}

TEST_F(BenchCliTest, TextTable) {
  CliResult r = RunStdout("bench --model " + Model() +
                          " --budget 50% --prompt-tokens 8 --gen-tokens 4 --repeat 1 --warmup 0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* row : {"prefill tok/s", "decode tok/s", "TTFT s", "cache hit rate",
                          "expert load GB/s", "median (min-max)"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << " missing in\n" << r.out;
  }
}

TEST_F(BenchCliTest, BadFlagsAreRefused) {
  const std::string base = "bench --model " + Model() + " ";
  for (const std::string bad : {"--repeat 0", "--warmup 2", "--gen-tokens 0", "--prompt-tokens -3",
                                "--frobnicate", "--budget 12XB", "--context 4 --prompt-tokens 8"}) {
    CliResult r = RunStdout(base + bad + " --json", true);
    EXPECT_NE(r.exit_code, 0) << bad << ": " << r.out;
  }
  CliResult missing = RunStdout("bench --json", true);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.out.find("--model"), std::string::npos) << missing.out;
}

}  // namespace
}  // namespace omnisage

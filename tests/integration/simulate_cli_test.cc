// End-to-end tests of `omnisage simulate`: a small trace written to a temporary directory, then
// replayed through the command line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

// One thinker layer of 4 experts of 100 bytes, k = 1; experts 0 1 0 2 1 0 one per step. With
// room for two (50%): LRU hits once, LFU and Belady twice (tests/experts/simulator_test.cc).
const char kTrace[] =
    R"({"omnisage_trace":1,"model":"tiny","total_expert_bytes":400,"components":[)"
    R"({"component":"thinker","layers":1,"experts":4,"k":1,"expert_bytes":100,"moe_layers":[0]}]})"
    "\n"
    R"({"step":0,"pos":0,"component":"thinker","layer":0,"experts":[0],"weights":[1]})"
    "\n"
    R"({"step":1,"pos":1,"component":"thinker","layer":0,"experts":[1],"weights":[1]})"
    "\n"
    R"({"step":2,"pos":2,"component":"thinker","layer":0,"experts":[0],"weights":[1]})"
    "\n"
    R"({"step":3,"pos":3,"component":"thinker","layer":0,"experts":[2],"weights":[1]})"
    "\n"
    R"({"step":4,"pos":4,"component":"thinker","layer":0,"experts":[1],"weights":[1]})"
    "\n"
    R"({"step":5,"pos":5,"component":"thinker","layer":0,"experts":[0],"weights":[1]})"
    "\n";

class SimulateCliTest : public CliTestDir {
 protected:
  SimulateCliTest() : CliTestDir("omnisage_simulate_") {}
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = Path(name);
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

TEST_F(SimulateCliTest, JsonReportsEveryPolicyAndBelady) {
  const std::string t = Write("t.jsonl", kTrace);
  CliResult r = RunCli("simulate --trace " + t + " --budget 50% --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["budget_bytes"], 200);
  EXPECT_EQ(j["total_expert_bytes"], 400);
  EXPECT_DOUBLE_EQ(j["budget_percent_of_expert_bytes"].get<double>(), 50.0);
  EXPECT_EQ(j["minimum_budget_bytes"], 100);
  EXPECT_EQ(j["accesses"], 6);
  EXPECT_EQ(j["distinct_experts"], 3);
  EXPECT_EQ(j["pin_window"]["thinker"], 1);
  const auto& rs = j["results"];
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0]["policy"], "lru");
  EXPECT_EQ(rs[1]["policy"], "lfu");
  EXPECT_EQ(rs[2]["policy"], "cycle");
  EXPECT_EQ(rs[3]["policy"], "trust");
  EXPECT_EQ(rs[4]["policy"], "belady");
  for (const auto& x : rs) {
    EXPECT_EQ(x["hits"].get<int>() + x["misses"].get<int>(), 6) << x.dump();
    EXPECT_EQ(x["bytes_read"].get<int>(), 100 * x["misses"].get<int>()) << x.dump();
  }
  EXPECT_EQ(rs[0]["hits"], 1);
  EXPECT_EQ(rs[0]["misses"], 5);
  EXPECT_EQ(rs[0]["evictions"], 3);
  EXPECT_EQ(rs[1]["hits"], 2);
  EXPECT_EQ(rs[4]["hits"], 2);
  EXPECT_EQ(rs[4]["evictions"], 2);
  EXPECT_NEAR(rs[0]["hit_rate_gap_to_belady_points"].get<double>(), 100.0 / 6, 1e-9);
  EXPECT_EQ(rs[4]["hit_rate_gap_to_belady_points"].get<double>(), 0.0);
  ASSERT_EQ(rs[0]["layers"].size(), 1u);
  EXPECT_EQ(rs[0]["layers"][0]["component"], "thinker");
  EXPECT_EQ(rs[0]["layers"][0]["misses"], 5);
}

TEST_F(SimulateCliTest, OnePolicyAndAbsoluteBudget) {
  const std::string t = Write("t.jsonl", kTrace);
  CliResult r = RunCli("simulate --trace " + t + " --budget 300 --policy lru --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["budget_bytes"], 300);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["policy"], "lru");
  EXPECT_EQ(j["results"][0]["misses"], 3);  // all three fit: compulsory misses only
  EXPECT_EQ(j["results"][1]["policy"], "belady");
}

TEST_F(SimulateCliTest, TextTable) {
  const std::string t = Write("t.jsonl", kTrace);
  CliResult r = RunCli("simulate --trace " + t + " --budget 50%");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* want : {"hit rate", "gap to belady", "lru", "lfu", "cycle", "trust", "belady",
                           "200 bytes", "50.00% of all expert bytes", "16.67 pts"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in:\n" << r.out;
  }
}

TEST_F(SimulateCliTest, BudgetTooSmall) {
  const std::string t = Write("t.jsonl", kTrace);
  CliResult r = RunCli("simulate --trace " + t + " --budget 99");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("minimum is 100 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("t.jsonl"), std::string::npos) << r.out;
}

TEST_F(SimulateCliTest, BadTraceNamesFileLineAndField) {
  std::string text = kTrace;
  text.replace(text.find(R"("experts":[2])"), 13, R"("experts":[9])");
  const std::string t = Write("bad.jsonl", text);
  CliResult r = RunCli("simulate --trace " + t + " --budget 50%");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("bad.jsonl:5: experts[0]: expert 9 out of range (4 experts)"),
            std::string::npos)
      << r.out;
}

TEST_F(SimulateCliTest, BadFlags) {
  const std::string t = Write("t.jsonl", kTrace);
  CliResult r = RunCli("simulate --trace " + t + " --budget 50% --policy fifo");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("lru, lfu, cycle, trust"), std::string::npos) << r.out;
  r = RunCli("simulate --trace " + t + " --budget lots");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--budget"), std::string::npos) << r.out;
  r = RunCli("simulate --trace " + (dir_ / "absent.jsonl").string() + " --budget 50%");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("absent.jsonl"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

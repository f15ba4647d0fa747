// End-to-end tests of `omnisage profile`: a tiny synthetic model run under the profiler.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ProfileCliTest : public CliTestDir {
 protected:
  ProfileCliTest() : CliTestDir("omnisage_profile_cli_") {}
};

TEST_F(ProfileCliTest, ProfilesARunOfTheTinyModel) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("profile --interval 5 --out " + Path("prof") + " -- run --model " +
                       Path("tiny") + " --prompt hi --max-tokens 8");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* name : {"memory.csv", "memory.txt", "memory.svg"}) {
    EXPECT_TRUE(fs::exists(dir_ / "prof" / name)) << name;
  }
  // The table is printed on stderr too.
  EXPECT_NE(r.out.find("| phase"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memory.svg"), std::string::npos) << r.out;

  std::istringstream csv(Slurp(dir_ / "prof" / "memory.csv"));
  std::string line;
  ASSERT_TRUE(std::getline(csv, line));
  EXPECT_EQ(line,
            "time_s,rss_bytes,page_cache_bytes,dense_bytes,expert_cache_bytes,kv_cache_bytes,"
            "activations_bytes,phase");
  std::set<std::string> phases;
  int rows = 0;
  uint64_t max_dense = 0, max_page_cache = 0;
  while (std::getline(csv, line)) {
    ++rows;
    std::vector<std::string> fields;
    std::stringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ',')) fields.push_back(f);
    ASSERT_EQ(fields.size(), 8u) << line;
    EXPECT_GT(std::stoull(fields[1]), 0u) << line;  // RSS
    max_page_cache = std::max<uint64_t>(max_page_cache, std::stoull(fields[2]));
    max_dense = std::max<uint64_t>(max_dense, std::stoull(fields[3]));
    phases.insert(fields[7]);
  }
  EXPECT_GE(rows, 5);
  EXPECT_TRUE(phases.count("load")) << rows;
  EXPECT_TRUE(phases.count("prefill")) << rows;
  EXPECT_TRUE(phases.count("decode")) << rows;
  EXPECT_GT(max_dense, 0u);       // the ledger is the inner command's
  EXPECT_GT(max_page_cache, 0u);  // the shards it just wrote and read are cached

  const std::string svg = Slurp(dir_ / "prof" / "memory.svg");
  EXPECT_NE(svg.find("class=\"phase-decode\""), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST_F(ProfileCliTest, ExitCodeIsTheInnerCommands) {
  CliResult r = RunCli("profile --out " + Path("prof") + " -- inspect " + Path("nope"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("omnisage: error:"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "prof" / "memory.csv"));  // written anyway
}

TEST_F(ProfileCliTest, MissingSeparatorIsAClearError) {
  CliResult r = RunCli("profile --out " + Path("prof") + " run --model x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("omnisage: error: profile: missing \"--\""), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "prof"));
}

TEST_F(ProfileCliTest, EmptyCommandIsAClearError) {
  CliResult r = RunCli("profile --out " + Path("prof") + " --");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("no command after \"--\""), std::string::npos) << r.out;
}

TEST_F(ProfileCliTest, MissingOutAndTooShortIntervalAreRefused) {
  CliResult a = RunCli("profile -- inspect " + Path("nope"));
  EXPECT_NE(a.exit_code, 0);
  EXPECT_NE(a.out.find("--out DIR is required"), std::string::npos) << a.out;
  CliResult b = RunCli("profile --interval 2 --out " + Path("prof") + " -- inspect x");
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.out.find("--interval must be at least 5 ms"), std::string::npos) << b.out;
}

TEST_F(ProfileCliTest, UnwritableOutIsAClearError) {
  std::ofstream(Path("file")) << "not a directory";
  CliResult r = RunCli("profile --out " + Path("file/prof") + " -- inspect " + Path("nope"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("profile: --out " + Path("file/prof") + ": cannot write there"),
            std::string::npos)
      << r.out;
  // Refused before the command ran.
  EXPECT_EQ(r.out.find(Path("nope")), std::string::npos) << r.out;
}

TEST_F(ProfileCliTest, HelpListsTheUsage) {
  CliResult r = RunCli("profile --help");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("--interval"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-- COMMAND [ARGS...]"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

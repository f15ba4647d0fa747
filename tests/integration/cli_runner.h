// Running the `omnisage` binary from CLI tests: RunCli(args) runs it through the shell (so args
// may hold quotes and redirections) and returns its exit code and its stdout + stderr (or its
// stdout alone, stderr discarded, when !with_stderr).
// CliTestDir gives each test a fresh temporary directory named after it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "source_paths.h"

namespace omnisage {

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout and (by default) stderr
};

inline CliResult RunCli(const std::string& args, bool with_stderr = true) {
  const std::string cmd = ::omnisage::test_paths::OmnisageBinary() + " " + args +
                          (with_stderr ? " 2>&1" : " 2>/dev/null");
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

// How many times `what` occurs in `text` (overlapping occurrences counted).
inline size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// A fixture whose tests each get an empty directory `<tmp>/<prefix><test name>`.
class CliTestDir : public ::testing::Test {
 protected:
  explicit CliTestDir(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (prefix_ + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;

 private:
  std::string prefix_;
};

}  // namespace omnisage

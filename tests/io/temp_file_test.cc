// TempFile: committed files appear whole under their name, uncommitted or failed ones leave
// nothing behind, temporary names never repeat. FileLock: a second holder is refused (kTry) or
// waits (kWait), and the refusal names the lock file and the holder.
#include "io/temp_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/fault_injection.h"
#include "io/file_lock.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class TempFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("omnisage_tempfile_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  size_t Files() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  fs::path dir_;
};

TEST_F(TempFileTest, CommitRenamesAndScopeEndRemoves) {
  {
    auto t = TempFile::Create(Path("a.txt"));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_TRUE(t->temp_path().ends_with(".tmp"));
    EXPECT_EQ(t->temp_path().rfind(Path("a.txt."), 0), 0u) << t->temp_path();
    ASSERT_TRUE(t->file().Append("hello").ok());
    EXPECT_FALSE(fs::exists(Path("a.txt")));
    ASSERT_TRUE(t->Commit().ok());
    EXPECT_FALSE(t->Commit().ok());  // once
  }
  EXPECT_EQ(ReadAll(Path("a.txt")), "hello");
  EXPECT_EQ(Files(), 1u);
  {
    auto t = TempFile::Create(Path("b.txt"));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(t->file().Append("partial").ok());
    EXPECT_EQ(Files(), 2u);
  }  // an error path: never committed
  EXPECT_EQ(Files(), 1u);
  EXPECT_FALSE(fs::exists(Path("b.txt")));
}

TEST_F(TempFileTest, FailedWritesAndRenamesLeaveNoTemporaryFile) {
  FaultInjectingFileSystem faulty;
  faulty.FailWritesAfter(3);
  Status full = WriteFileAtomically(&faulty, Path("full.json"), std::string(2 << 20, 'x'));
  EXPECT_FALSE(full.ok());
  EXPECT_NE(full.message().find("No space left"), std::string::npos) << full.message();
  faulty.FailWritesAfter(-1);
  faulty.FailRenames("renamed.json");
  EXPECT_FALSE(WriteFileAtomically(&faulty, Path("renamed.json"), "{}").ok());
  EXPECT_EQ(Files(), 0u);
}

TEST_F(TempFileTest, TemporaryNamesAreUniqueAcrossThreads) {
  std::set<std::string> names;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        const std::string name = UniqueTempPath("x");
        std::lock_guard<std::mutex> lock(mu);
        names.insert(name);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(names.size(), 400u);
}

TEST_F(TempFileTest, SecondLockHolderIsRefusedOrWaits) {
  const std::string path = Path("store.lock");
  auto first = FileLock::Acquire(path, FileLock::Mode::kTry);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = FileLock::Acquire(path, FileLock::Mode::kTry);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(path), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("process " + std::to_string(getpid())),
            std::string::npos)
      << second.status().message();
  // kWait blocks until the first is released.
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    auto w = FileLock::Acquire(path, FileLock::Mode::kWait);
    EXPECT_TRUE(w.ok());
    acquired = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(acquired);
  first->reset();
  waiter.join();
  EXPECT_TRUE(acquired);
  EXPECT_TRUE(FileLock::Acquire(path, FileLock::Mode::kTry).ok());
}

}  // namespace
}  // namespace omnisage

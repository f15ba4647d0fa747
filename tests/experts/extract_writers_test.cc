// extract as one writer among others: a second extraction into the same store is refused while
// the first holds its lock (and two started together never both write); temporary files a
// killed run left are removed; a disk that fills while the tokenizer or the manifest is written
// says to free space and resume, and the rerun finishes the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "experts/extract.h"
#include "experts/manifest.h"
#include "experts/verify.h"
#include "generated_model.h"
#include "io/fault_injection.h"
#include "io/file_lock.h"
#include "model/synth.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class ExtractWritersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_writers_model_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*model_).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*model_);
    delete model_;
  }
  void SetUp() override {
    store_ = (fs::path(::testing::TempDir()) /
              ("omnisage_writers_" +
               std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())))
                 .string();
    fs::remove_all(store_);
  }
  void TearDown() override { fs::remove_all(store_); }

  ExtractOptions Options(FileSystem* fs = nullptr) const {
    return {.model = *model_, .out = store_, .progress = false, .fs = fs};
  }
  int TempFiles() const {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(store_)) {
      n += e.path().filename().string().ends_with(".tmp") ? 1 : 0;
    }
    return n;
  }
  void ExpectStoreVerifies() const {
    auto v = VerifyStore(store_, false);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(v->problems.empty());
    EXPECT_EQ(TempFiles(), 0);
  }

  static std::string* model_;
  std::string store_;
};
std::string* ExtractWritersTest::model_ = nullptr;

TEST_F(ExtractWritersTest, SecondWriterIsRefusedWhileTheLockIsHeld) {
  fs::create_directories(store_);
  auto held = FileLock::Acquire(store_ + "/" + std::string(kLockFileName), FileLock::Mode::kTry);
  ASSERT_TRUE(held.ok());
  auto r = ExtractStore(Options());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("another extract is writing this store"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find(std::string(kLockFileName)), std::string::npos);
  EXPECT_FALSE(fs::exists(store_ + "/" + std::string(kManifestFileName)));
  held->reset();
  ASSERT_TRUE(ExtractStore(Options()).ok());
  ExpectStoreVerifies();
}

TEST_F(ExtractWritersTest, TwoConcurrentExtractionsLeaveOneValidStore) {
  StatusOr<ExtractReport> a = Internal("not run"), b = Internal("not run");
  std::thread ta([&] { a = ExtractStore(Options()); });
  std::thread tb([&] { b = ExtractStore(Options()); });
  ta.join();
  tb.join();
  // Either one was refused, or they ran one after the other (the second resumed); never both
  // writing at once.
  ASSERT_TRUE(a.ok() || b.ok()) << a.status().ToString() << "\n" << b.status().ToString();
  for (const auto* r : {&a, &b}) {
    if (!r->ok()) {
      EXPECT_NE(r->status().message().find("another extract"), std::string::npos)
          << r->status().message();
    }
  }
  ExpectStoreVerifies();
}

TEST_F(ExtractWritersTest, TemporaryFilesOfAKilledRunAreRemoved) {
  fs::create_directories(store_ + "/experts/thinker/layer_00");
  for (const std::string rel :
       {"manifest.json.123.0.tmp", "experts/thinker/layer_00/expert_003.safetensors.tmp",
        "experts/thinker/layer_00/expert_004.safetensors.77.5.tmp"}) {
    std::ofstream(store_ + "/" + rel) << "partial";
  }
  ASSERT_TRUE(ExtractStore(Options()).ok());
  ExpectStoreVerifies();
}

// The disk fills while `victim` (a file written after every data file) is being written.
TEST_F(ExtractWritersTest, DiskFullInTheTokenizerOrManifestSaysToFreeSpaceAndResume) {
  FaultInjectingFileSystem counting;
  ASSERT_TRUE(ExtractStore(Options(&counting)).ok());
  const uint64_t total = counting.bytes_written();
  const uint64_t manifest = fs::file_size(store_ + "/" + std::string(kManifestFileName));
  const uint64_t tokenizer_config = fs::file_size(store_ + "/tokenizer_config.json");
  const uint64_t tokenizer = fs::file_size(store_ + "/tokenizer.json");
  // Extras are copied in name order after the data files, the manifest last.
  const std::pair<std::string, uint64_t> cases[] = {
      {"tokenizer.json", total - manifest - tokenizer_config - tokenizer / 2},
      {std::string(kManifestFileName), total - manifest / 2}};
  for (const auto& [victim, budget] : cases) {
    SCOPED_TRACE(victim);
    fs::remove_all(store_);
    FaultInjectingFileSystem faulty;
    faulty.FailWritesAfter(static_cast<int64_t>(budget));
    auto r = ExtractStore(Options(&faulty));
    ASSERT_FALSE(r.ok());
    const std::string& m = r.status().message();
    EXPECT_NE(m.find(store_ + "/" + victim), std::string::npos) << m;
    EXPECT_NE(m.find("No space left on device"), std::string::npos) << m;
    EXPECT_NE(m.find("free some space and run the same command again to resume"), std::string::npos)
        << m;
    EXPECT_FALSE(fs::exists(store_ + "/" + std::string(kManifestFileName)));
    EXPECT_EQ(TempFiles(), 0);
    auto again = ExtractStore(Options());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->files_written, 0u);  // every data file was complete
    ExpectStoreVerifies();
  }
}

}  // namespace
}  // namespace omnisage

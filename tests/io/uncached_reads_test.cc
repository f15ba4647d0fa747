// Reads that leave nothing in the page cache (ReadMode::kDirect, kDropCache): the same bytes as a
// plain pread at any offset and length; a file system that refuses O_DIRECT falls back to dropping
// pages, says so, and fault injection still works; a model run from a store or the original
// shards gives bit-identical logits in every mode, and afterwards the page cache holds (almost)
// none of the files' pages in the uncached modes, and most of them in the cached one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/extract.h"
#include "experts/store.h"
#include "generated_model.h"
#include "io/fault_injection.h"
#include "io/file.h"
#include "model/synth.h"
#include "model/text_model.h"
#include "source_paths.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

std::string TestDir(const std::string& name) {
  const std::string dir =
      (fs::path(::testing::TempDir()) / ("omnisage_uncached_" + name + std::to_string(getpid())))
          .string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string WriteRandomFile(const std::string& path, size_t n) {
  std::mt19937_64 rng(n);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  auto out = NewWritableFile(path);
  EXPECT_TRUE(out.ok());
  EXPECT_TRUE((*out)->Append(bytes).ok());
  EXPECT_TRUE((*out)->Close().ok());
  return bytes;
}

// Writes back and drops every page of `path` from the page cache.
void DropFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// Pages of `path` in the page cache, and the file's pages, by mincore(2).
std::pair<uint64_t, uint64_t> CachedPages(const std::string& path) {
  const uint64_t size = fs::file_size(path);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uint64_t pages = (size + page - 1) / page;
  if (size == 0) return {0, 0};
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return {0, pages};
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return {0, pages};
  std::vector<unsigned char> vec(pages);
  uint64_t resident = 0;
  if (mincore(map, size, vec.data()) == 0) {
    for (unsigned char v : vec) resident += v & 1;
  }
  munmap(map, size);
  return {resident, pages};
}

std::vector<std::string> DataFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".safetensors") {
      out.push_back(e.path().string());
    }
  }
  return out;
}

TEST(UncachedReadsTest, EveryModeReadsTheSameBytes) {
  const std::string dir = TestDir("bytes");
  // Longer than one O_DIRECT chunk and not a whole number of blocks.
  const std::string path = dir + "/data";
  const std::string bytes = WriteRandomFile(path, kDirectChunkBytes + 3 * kDirectAlignment + 123);
  const std::vector<std::pair<uint64_t, size_t>> ranges = {
      {0, 1},
      {1, 4095},
      {4095, 2},
      {4096, 4096},
      {777, kDirectChunkBytes + 5000},               // crosses a chunk boundary
      {bytes.size() - 100, 100},                     // the unaligned tail
      {0, bytes.size()},                             // all of it
      {kDirectChunkBytes - 1, 3 * kDirectAlignment}  // around the chunk size
  };
  for (ReadMode mode : {ReadMode::kPread, ReadMode::kDropCache, ReadMode::kDirect}) {
    SCOPED_TRACE(std::string(ReadModeName(mode)));
    auto file = OpenFile(path, mode);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    for (auto [offset, n] : ranges) {
      std::string got(n, '\0');
      ASSERT_TRUE((*file)->ReadAt(offset, n, got.data()).ok()) << offset << " " << n;
      EXPECT_EQ(got, bytes.substr(offset, n)) << offset << " " << n;
    }
    std::string past(10, '\0');
    Status s = (*file)->ReadAt(bytes.size() - 5, 10, past.data());
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
    EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  }
  fs::remove_all(dir);
}

TEST(UncachedReadsTest, RefusedDirectIoFallsBackToDroppingPagesAndSaysSo) {
  const std::string dir = TestDir("fallback");
  const std::string path = dir + "/refused.bin";
  const std::string bytes = WriteRandomFile(path, 3 * kDirectAlignment + 7);
  FaultInjectingFileSystem faulty;
  faulty.RefuseDirectIo("refused");
  const size_t before = DirectIoFallbacks().size();
  auto file = faulty.OpenFile(path, ReadMode::kDirect);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->read_mode(), ReadMode::kDropCache);
  const std::vector<std::string> fallbacks = DirectIoFallbacks();
  ASSERT_EQ(fallbacks.size(), before + 1);
  EXPECT_NE(fallbacks.back().find(path), std::string::npos) << fallbacks.back();
  EXPECT_NE(fallbacks.back().find("O_DIRECT"), std::string::npos) << fallbacks.back();
  std::string got(bytes.size(), '\0');
  ASSERT_TRUE((*file)->ReadAt(0, got.size(), got.data()).ok());
  EXPECT_EQ(got, bytes);

  // A file the refusal does not match reads directly; injected read errors reach it too.
  const std::string other = dir + "/accepted.bin";
  WriteRandomFile(other, 2 * kDirectAlignment);
  faulty.FailReads("accepted", kDirectAlignment);
  auto direct = faulty.OpenFile(other, ReadMode::kDirect);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  // O_DIRECT itself may be refused by the file system the tests run on (then it falls back too).
  EXPECT_NE((*direct)->read_mode(), ReadMode::kPread);
  std::string buf(kDirectAlignment, '\0');
  EXPECT_TRUE((*direct)->ReadAt(0, buf.size(), buf.data()).ok());
  Status s = (*direct)->ReadAt(kDirectAlignment, buf.size(), buf.data());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("injected"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

class UncachedModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TestDir("model"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_ + "/model").ok());
    ExtractOptions e;
    e.model = *dir_ + "/model";
    e.out = *dir_ + "/store";
    e.progress = false;
    ASSERT_TRUE(ExtractStore(e).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  // A 16-token prompt, then 6 greedy steps, with a quarter of the experts' bytes as the budget
  // (so experts are read again as they are evicted); every logit.
  static std::vector<float> Run(const WeightSource& source) {
    auto config = LoadModelConfig(source.config_path());
    EXPECT_TRUE(config.ok());
    const DecoderConfig& c = config->text;
    auto cached =
        CachedExperts::Create(source, "thinker.model.", Component::kThinker, c,
                              {.budget_bytes = std::max(CachedExperts::MinimumBudget(c),
                                                        CachedExperts::TotalExpertBytes(c) / 4),
                               .io_threads = 2});
    EXPECT_TRUE(cached.ok()) << cached.status().ToString();
    auto model = TextModel::Load(source, *config, cached->get());
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    ThreadPool pool(2);
    KvCache cache = (*model)->NewCache(32);
    const int64_t vocab = (*model)->vocab_size();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 16; ++i) prompt.push_back((i * 131 + 7) % static_cast<int>(vocab));
    std::vector<float> all(prompt.size() * vocab);
    EXPECT_TRUE((*model)->Forward(prompt.data(), 16, &cache, true, all.data(), &pool).ok());
    std::vector<float> logits(all.end() - vocab, all.end());
    for (int step = 0; step < 6; ++step) {
      const auto next =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      EXPECT_TRUE((*model)->Forward(&next, 1, &cache, false, logits.data(), &pool).ok());
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  }

  static std::string* dir_;
};
std::string* UncachedModelTest::dir_ = nullptr;

TEST_F(UncachedModelTest, SameLogitsInEveryModeAndNoPagesLeftBehind) {
  for (const std::string& path : {*dir_ + "/model", *dir_ + "/store"}) {
    SCOPED_TRACE(path);
    const std::vector<std::string> files = DataFiles(path);
    ASSERT_FALSE(files.empty());
    auto cached_pages = [&] {
      uint64_t resident = 0, total = 0;
      for (const std::string& f : files) {
        auto [r, t] = CachedPages(f);
        resident += r;
        total += t;
      }
      return std::pair{resident, total};
    };
    std::vector<float> reference;
    for (ReadMode mode : {ReadMode::kPread, ReadMode::kDirect, ReadMode::kDropCache}) {
      SCOPED_TRACE(std::string(ReadModeName(mode)));
      for (const std::string& f : files) DropFromPageCache(f);
      const auto [before, total] = cached_pages();
      if (before > total / 10) {
        GTEST_SKIP() << "this file system keeps " << before << " of " << total
                     << " pages cached after POSIX_FADV_DONTNEED (tmpfs?): nothing to measure";
      }
      auto source = OpenWeightSource(path, nullptr, mode);
      ASSERT_TRUE(source.ok()) << source.status().ToString();
      const std::vector<float> logits = Run(**source);
      ASSERT_FALSE(logits.empty());
      if (reference.empty()) {
        reference = logits;
      } else {
        ASSERT_EQ(logits.size(), reference.size());
        EXPECT_EQ(std::memcmp(logits.data(), reference.data(), logits.size() * sizeof(float)), 0);
      }
      const auto [after, pages] = cached_pages();
      if (mode == ReadMode::kPread) {
        // The plain reads leave the bytes they read in the page cache: what the others avoid.
        EXPECT_GT(after, pages / 2) << after << " of " << pages << " pages cached";
      } else {
        // At most the pages another reader (none here) might have left, one per file.
        EXPECT_LE(after, before + files.size()) << after << " of " << pages << " pages cached";
      }
    }
  }
}

}  // namespace
}  // namespace omnisage

// The memory sampler and its page-cache probe against the real kernel.
#include "profile/sampler.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "io/file.h"
#include "profile/page_cache.h"
#include "util/memory_ledger.h"
#include "util/phase.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::path(::testing::TempDir()) /
          (name + "_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
      .string();
}

// Writes `bytes` bytes and reads them back, so the file's pages are in the page cache.
void WriteAndRead(const std::string& path, size_t bytes) {
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(bytes, 'x');
  }
  std::ifstream in(path, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(back.size(), bytes);
}

TEST(PageCacheProbe, SeesAFileReadFullyAsCached) {
  constexpr size_t kBytes = 1 << 20;
  const std::string path = TempPath("cached");
  WriteAndRead(path, kBytes);
  PageCacheProbe probe(/*max_pages=*/uint64_t{1} << 30);
  const PageCacheStats before = probe.Sample();
  // Opening through io/file.h registers the file; the probe maps it on its next call.
  ASSERT_TRUE(OpenFile(path).ok());
  const PageCacheStats after = probe.Sample();
  EXPECT_EQ(after.files, before.files + 1);
  EXPECT_GE(after.mapped_bytes, before.mapped_bytes + kBytes);
  EXPECT_GE(after.resident_bytes, before.resident_bytes + kBytes);
  fs::remove(path);
}

TEST(PageCacheProbe, SparseFileIsNotCachedAndTinyFileIsSkipped) {
  const std::string sparse = TempPath("sparse"), tiny = TempPath("tiny");
  {
    const int fd = open(sparse.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 8 << 20), 0);  // a hole: no page is ever cached
    close(fd);
  }
  WriteAndRead(tiny, 100);
  PageCacheProbe probe(uint64_t{1} << 30);
  const PageCacheStats before = probe.Sample();
  ASSERT_TRUE(OpenFile(sparse).ok());
  ASSERT_TRUE(OpenFile(tiny).ok());
  const PageCacheStats after = probe.Sample();
  EXPECT_EQ(after.files, before.files + 1);
  EXPECT_EQ(after.skipped_files, before.skipped_files + 1);
  EXPECT_LT(after.resident_bytes, before.resident_bytes + (1 << 20));
  fs::remove(sparse);
  fs::remove(tiny);
}

TEST(PageCacheProbe, BoundedScanCoversEveryPageOverSeveralCalls) {
  constexpr size_t kBytes = 4 << 20;
  const std::string path = TempPath("bounded");
  WriteAndRead(path, kBytes);
  ASSERT_TRUE(OpenFile(path).ok());
  PageCacheProbe probe(/*max_pages=*/1);  // one chunk per call
  PageCacheStats s = probe.Sample();
  const size_t chunks = static_cast<size_t>(s.mapped_bytes / (16 << 20)) + s.files + 1;
  for (size_t i = 0; i < chunks; ++i) s = probe.Sample();
  EXPECT_GE(s.resident_bytes, kBytes);
  EXPECT_LE(s.pages_scanned, (16u << 20) / 4096);  // one chunk at most
  fs::remove(path);
}

TEST(MemorySampler, RecordsLedgerPhaseRssAndPageCache) {
  const std::string path = TempPath("sampled");
  WriteAndRead(path, 1 << 20);
  ASSERT_TRUE(OpenFile(path).ok());
  MemorySampler sampler;
  const MemorySample before = sampler.SampleNow();
  MemorySample during;
  {
    LedgerCharge kv(MemoryKind::kKvCache, 12345);
    LedgerCharge act(MemoryKind::kActivations, 678);
    ScopedPhase phase(Phase::kDecode);
    during = sampler.SampleNow();
  }
  EXPECT_EQ(during.ledger_bytes(MemoryKind::kKvCache) - before.ledger_bytes(MemoryKind::kKvCache),
            12345u);
  EXPECT_EQ(
      during.ledger_bytes(MemoryKind::kActivations) - before.ledger_bytes(MemoryKind::kActivations),
      678u);
  EXPECT_EQ(during.ledger_total() - before.ledger_total(), 12345u + 678u);
  EXPECT_EQ(during.phase, Phase::kDecode);
  EXPECT_GT(during.rss_bytes, 0u);
  EXPECT_GE(during.page_cache_bytes, 1u << 20);
  EXPECT_EQ(sampler.samples().size(), 2u);
  fs::remove(path);
}

TEST(MemorySampler, SamplesAtTheIntervalAndAtEveryPhaseChange) {
  MemorySampler sampler(MemorySamplerOptions{.interval = std::chrono::milliseconds(5)});
  sampler.Start();
  {
    ScopedPhase load(Phase::kLoad);  // far shorter than the interval: seen only as a change
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  const std::vector<MemorySample> samples = sampler.Stop();
  ASSERT_GE(samples.size(), 6u);
  EXPECT_EQ(samples.front().t_s, 0.0);
  for (size_t i = 1; i < samples.size(); ++i) EXPECT_GE(samples[i].t_s, samples[i - 1].t_s);
  EXPECT_GE(samples.back().t_s, 0.06);
  int load = 0;
  for (const MemorySample& s : samples) load += s.phase == Phase::kLoad;
  EXPECT_GE(load, 1);  // the change itself, and perhaps the full sample that follows it
  // Stopped: phase changes are no longer recorded.
  { ScopedPhase decode(Phase::kDecode); }
  EXPECT_EQ(sampler.samples().size(), samples.size());
}

}  // namespace
}  // namespace omnisage

#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "util/task_queue.h"

namespace omnisage {
namespace {

TEST(ThreadPoolTest, DefaultSizeIsHardwareConcurrency) {
  ThreadPool pool;
  EXPECT_EQ(pool.num_threads(), std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  EXPECT_EQ(ThreadPool(1).num_threads(), 1);
  EXPECT_EQ(ThreadPool(3).num_threads(), 3);
}

// Bytes of address space the process maps now (/proc/self/statm's first field, in pages).
uint64_t MappedBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * 4096;
}

// In a process whose address space leaves room for a few thread stacks only: a thread the
// system refuses to start is a Status from Create (and a smaller, working pool from the
// constructor), never an exception that aborts. Returns 0, or which check failed.
int RefusedThreads() {
  const rlimit limit{MappedBytes() + (24u << 20), RLIM_INFINITY};
  if (MappedBytes() == 0 || setrlimit(RLIMIT_AS, &limit) != 0) return 2;
  auto pool = ThreadPool::Create(256);
  if (pool.ok() || pool.status().code() != StatusCode::kResourceExhausted) return 3;
  if (pool.status().message().find("could not start thread") == std::string::npos) return 4;
  ThreadPool smaller(256);
  if (smaller.num_threads() >= 256 || smaller.start_error().empty()) return 5;
  std::atomic<int64_t> sum{0};
  smaller.ParallelFor(1000, [&](int64_t b, int64_t e) { sum += e - b; });
  if (sum != 1000) return 6;
  auto queue = TaskQueue::Create(256);
  if (queue.ok() || queue.status().code() != StatusCode::kResourceExhausted) return 7;
  return 0;
}

TEST(ThreadPoolDeathTest, ThreadsTheSystemRefusesAreAStatusNotAnAbort) {
  EXPECT_EXIT(std::_Exit(RefusedThreads()), ::testing::ExitedWithCode(0), "");
}

// Every index in [0, n) is visited exactly once, by at most num_threads() contiguous, non-empty
// chunks, for pools larger and smaller than the machine.
TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 100, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(n);
      std::mutex mu;
      std::vector<std::pair<int64_t, int64_t>> ranges;
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        ranges.emplace_back(begin, end);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      EXPECT_LE(ranges.size(), static_cast<size_t>(std::min<int64_t>(n, threads)));
      std::sort(ranges.begin(), ranges.end());
      int64_t expect_begin = 0;
      for (const auto& [begin, end] : ranges) {
        EXPECT_EQ(begin, expect_begin);
        EXPECT_LT(begin, end);
        expect_begin = end;
      }
      EXPECT_EQ(expect_begin, n);
    }
  }
}

TEST(ThreadPoolTest, EmptyRangeDoesNotCallFn) {
  ThreadPool pool(2);
  int calls = 0;
  pool.ParallelFor(0, [&](int64_t, int64_t) { ++calls; });
  pool.ParallelFor(-5, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

// Runs two chunks that each wait (up to 10 s) for the other to start: they can only finish if a
// worker runs one of them while the caller runs the other. False when they timed out.
bool BothChunksRanAtOnce(ThreadPool& pool) {
  std::atomic<int> started{0};
  std::atomic<bool> timed_out{false};
  pool.ParallelFor(2, [&](int64_t, int64_t) {
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2) {
      if (std::chrono::steady_clock::now() > deadline) {
        timed_out = true;
        return;
      }
      std::this_thread::yield();
    }
  });
  return !timed_out;
}

TEST(ThreadPoolTest, WorkersRunChunksConcurrently) {
  ThreadPool pool(2);
  for (int round = 0; round < 20; ++round) {
    // Sleep past the spin phase now and then, so both the spinning and the sleeping wake-up
    // paths are exercised.
    if (round % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(BothChunksRanAtOnce(pool)) << "round " << round;
  }
}

// A worker that starts running only after the first loop was published must still take part in
// it (regression: it used to take that loop's epoch as already seen, and sat it out).
TEST(ThreadPoolTest, FreshPoolRunsItsFirstLoopConcurrently) {
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(2);
    ASSERT_TRUE(BothChunksRanAtOnce(pool)) << "round " << round;
  }
}

// Decode issues ~100 small loops per token: many tiny calls must all complete, with results.
TEST(ThreadPoolTest, ManySmallCalls) {
  ThreadPool pool(2);
  constexpr int kCalls = 20000;
  std::vector<int64_t> partial(2);
  int64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < kCalls; ++c) {
    std::atomic<int64_t> sum{0};
    pool.ParallelFor(64, [&](int64_t begin, int64_t end) {
      int64_t s = 0;
      for (int64_t i = begin; i < end; ++i) s += i;
      sum.fetch_add(s);
    });
    ASSERT_EQ(sum.load(), 64 * 63 / 2);
    total += sum.load();
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(total, int64_t{kCalls} * 64 * 63 / 2);
  RecordProperty("microseconds_per_call", std::to_string(us / kCalls));
}

// Loops from different callers never interleave: while a chunk of one runs, no chunk of the
// other is in flight.
TEST(ThreadPoolTest, ConcurrentCallersAreSerialised) {
  ThreadPool pool(3);
  std::atomic<int> in_flight[2] = {0, 0};
  std::atomic<bool> overlapped{false};
  auto caller = [&](int k, int64_t n, int64_t* out) {
    for (int c = 0; c < 500; ++c) {
      std::atomic<int64_t> sum{0};
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
        in_flight[k].fetch_add(1);
        if (in_flight[1 - k].load() > 0) overlapped = true;
        sum.fetch_add(end - begin);
        in_flight[k].fetch_sub(1);
      });
      *out += sum.load();
    }
  };
  int64_t a = 0, b = 0;
  std::thread t1(caller, 0, 100, &a);
  std::thread t2(caller, 1, 37, &b);
  t1.join();
  t2.join();
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(a, 500 * 100);
  EXPECT_EQ(b, 500 * 37);
}

TEST(ThreadPoolTest, ChunksSeeCallerWritesAndCallerSeesChunkWrites) {
  ThreadPool pool(2);
  std::vector<int64_t> data(10000);
  for (int round = 1; round <= 50; ++round) {
    for (int64_t i = 0; i < 10000; ++i) data[i] = round;  // plain writes before the call
    pool.ParallelFor(10000, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[i] = data[i] * 2 + i;
    });
    for (int64_t i = 0; i < 10000; ++i) ASSERT_EQ(data[i], round * 2 + i);
  }
}

}  // namespace
}  // namespace omnisage

#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <system_error>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace omnisage {
namespace {

// The pool whose chunk this thread is running, to catch nested ParallelFor calls.
thread_local const ThreadPool* t_running_pool = nullptr;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until `done()` or until kSpinMicros have passed; returns done().
template <typename Pred>
bool SpinUntil(Pred done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::microseconds(ThreadPool::kSpinMicros);
  for (int i = 1;; ++i) {
    if (done()) return true;
    CpuRelax();
    // Reading the clock costs ~20 ns; look at it only now and then.
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

constexpr uint32_t Epoch(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
constexpr uint32_t Chunks(uint64_t s) { return static_cast<uint32_t>(s >> 16) & 0xffff; }
constexpr uint32_t Next(uint64_t s) { return static_cast<uint32_t>(s) & 0xffff; }

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
  // The claim word holds `next` in 16 bits. Per loop it reaches at most chunks (<= threads) plus
  // one failed claim by the caller and at most two by each worker (one for the epoch it saw, one
  // for a newer one): 16384 threads keep that below 2^16.
  num_threads = std::clamp(num_threads, 1, 16384);
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) {
    try {
      workers_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error& e) {
      start_error_ =
          fmt::format("could not start thread {} of {}: {}", i + 1, num_threads, e.what());
      break;
    }
  }
}

StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(int num_threads) {
  auto pool = std::make_unique<ThreadPool>(num_threads);
  if (!pool->start_error().empty()) return ResourceExhausted("thread pool: " + pool->start_error());
  return pool;
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  { std::lock_guard<std::mutex> lock(mu_); }
  wake_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::ParallelFor(int64_t n, RangeFn fn) {
  if (n <= 0) return;
  assert(t_running_pool != this && "ParallelFor called from inside a loop of the same pool");
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  const uint32_t chunks = static_cast<uint32_t>(std::min<int64_t>(n, num_threads()));
  fn_ = &fn;
  n_ = n;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t epoch = Epoch(state_.load(std::memory_order_relaxed)) + 1;
  // Publishing the epoch releases fn_, n_ and done_ to every thread that claims a chunk.
  state_.store(Pack(epoch, chunks, 0));
  // Sleepers register before they re-check state_ under mu_, and both sides use seq_cst, so either
  // we see the sleeper here or it sees the new epoch.
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    wake_cv_.notify_all();
  }
  RunChunks();
  const auto all_done = [&] { return done_.load() >= chunks; };
  if (!SpinUntil(all_done)) {
    caller_waiting_.store(true);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, all_done);
    caller_waiting_.store(false);
  }
  fn_ = nullptr;
}

void ThreadPool::RunChunks() {
  for (;;) {
    // The old value names the loop this claim belongs to, even if this thread has not seen its
    // epoch before; that loop cannot finish (nor fn_ change) until our chunk is done.
    const uint64_t old = state_.fetch_add(1, std::memory_order_acq_rel);
    const uint32_t chunks = Chunks(old);
    const uint32_t idx = Next(old);
    if (idx >= chunks) return;
    const int64_t n = n_;
    const int64_t begin = n * idx / chunks;
    const int64_t end = n * (idx + 1) / chunks;
    const ThreadPool* outer = t_running_pool;
    t_running_pool = this;
    (*fn_)(begin, end);
    t_running_pool = outer;
    if (done_.fetch_add(1) + 1 == chunks && caller_waiting_.load()) {
      { std::lock_guard<std::mutex> lock(mu_); }
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::WorkerLoop() {
  // Epoch 0 is the state before any loop. (Reading state_ here instead would lose a loop published
  // before this thread got to run.)
  uint32_t seen = 0;
  for (;;) {
    const auto woken = [&] { return stop_.load() || Epoch(state_.load()) != seen; };
    if (!SpinUntil(woken)) {
      sleepers_.fetch_add(1);
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_cv_.wait(lock, woken);
      }
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = Epoch(state_.load());
    RunChunks();
  }
}

}  // namespace omnisage

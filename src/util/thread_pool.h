// A fixed-size pool of worker threads for data-parallel loops (the matmuls of a forward pass).
//
// ParallelFor(n, fn) splits [0, n) into at most num_threads() contiguous chunks and runs
// fn(begin, end) once per chunk, on the workers and on the calling thread, returning when every
// chunk has finished. Chunks are claimed dynamically, so a worker that is slow to wake simply runs
// fewer of them; the union of the ranges is exactly [0, n), each index once.
//
// Cost: no thread is created per call. Idle workers spin for a short while (kSpinMicros) waiting
// for the next call -- a decode step issues ~100 calls back to back -- and then sleep on a
// condition variable, so an idle pool uses no CPU.
//
// Thread-safety: ParallelFor may be called from any thread; concurrent calls on one pool are
// serialised (one loop runs at a time). `fn` runs concurrently with itself on disjoint ranges and
// must not throw, and must not call ParallelFor on the same pool (that would deadlock; it is
// checked with an assert). The destructor must not race with a ParallelFor call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "util/status.h"

namespace omnisage {

// A non-owning reference to a callable fn(begin, end), so that passing a lambda to ParallelFor
// allocates nothing (a std::function holding a capturing lambda may). The callable must outlive
// the call it is passed to.
class RangeFn {
 public:
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, RangeFn>)
      RangeFn(const F& f)  // NOLINT: implicit, like std::function
      : object_(&f), call_([](const void* o, int64_t begin, int64_t end) {
          (*static_cast<const F*>(o))(begin, end);
        }) {}
  void operator()(int64_t begin, int64_t end) const { call_(object_, begin, end); }

 private:
  const void* object_;
  void (*call_)(const void*, int64_t, int64_t);
};

class ThreadPool {
 public:
  // How long an idle worker spins before it sleeps.
  static constexpr int kSpinMicros = 100;

  // A pool running loops on `num_threads` threads in all: num_threads - 1 workers plus the thread
  // calling ParallelFor. 0 means std::thread::hardware_concurrency() (at least 1). A worker the
  // system refuses to start leaves a smaller pool (start_error() says why); no exception escapes.
  explicit ThreadPool(int num_threads = 0);
  // The same, but a worker the system refuses to start is an error (ResourceExhausted) instead.
  static StatusOr<std::unique_ptr<ThreadPool>> Create(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that run a loop, the caller included (>= 1).
  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Why fewer workers started than asked for; empty when all did.
  const std::string& start_error() const { return start_error_; }

  // Runs fn(begin, end) over contiguous chunks covering [0, n); blocks until all have returned.
  // n <= 0 does nothing; with one thread, or n == 1, fn(0, n) runs on the calling thread.
  void ParallelFor(int64_t n, RangeFn fn);

 private:
  // The claim word: [epoch:32 | chunks:16 | next chunk index:16]. Workers claim a chunk with one
  // fetch_add, and the old value tells them which loop (epoch) and how many chunks it has, so a
  // worker that wakes late can never run a chunk of a finished loop.
  static uint64_t Pack(uint32_t epoch, uint32_t chunks, uint32_t next) {
    return (uint64_t{epoch} << 32) | (uint64_t{chunks} << 16) | next;
  }
  // Claims and runs chunks of the current loop until none is left.
  void RunChunks();
  void WorkerLoop();

  std::vector<std::thread> workers_;
  std::string start_error_;
  std::mutex call_mu_;  // serialises ParallelFor callers

  // The current loop; written by the caller before it publishes a new epoch in state_, and
  // read-only while any of its chunks is unfinished.
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;

  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> done_{0};  // chunks finished in the current loop
  std::atomic<int> sleepers_{0};   // workers blocked (or about to block) on wake_cv_
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_cv_;  // a new epoch, or stop_
  std::condition_variable done_cv_;  // done_ reached the chunk count
};

}  // namespace omnisage

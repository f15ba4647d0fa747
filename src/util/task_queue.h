// TaskQueue: a few threads running submitted tasks in order of submission (the expert loader's
// I/O threads). Unlike ThreadPool (data-parallel loops for compute), tasks here are independent
// and mostly wait on the disk.
//
// Thread-safe: Submit may be called from any thread, also from a task. The destructor runs every
// task already submitted, then joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "util/status.h"

namespace omnisage {

class TaskQueue {
 public:
  // A queue with `num_threads` threads (at least 1). Errors: a thread the system refuses to
  // start (ResourceExhausted); the threads already started are joined.
  static StatusOr<std::unique_ptr<TaskQueue>> Create(int num_threads);
  ~TaskQueue();
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until every task submitted so far has finished.
  void Drain();
  int num_threads() const { return static_cast<int>(threads_.size()); }

 private:
  TaskQueue() = default;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;       // new task or stop
  std::condition_variable idle_cv_;  // a task finished
  std::deque<std::function<void()>> tasks_;
  int running_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace omnisage

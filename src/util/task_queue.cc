#include "util/task_queue.h"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

namespace omnisage {

StatusOr<std::unique_ptr<TaskQueue>> TaskQueue::Create(int num_threads) {
  std::unique_ptr<TaskQueue> q(new TaskQueue());
  num_threads = std::max(1, num_threads);
  for (int i = 0; i < num_threads; ++i) {
    try {
      q->threads_.emplace_back([self = q.get()] { self->Loop(); });
    } catch (const std::system_error& e) {
      return ResourceExhausted(fmt::format("task queue: could not start thread {} of {}: {}", i + 1,
                                           num_threads,
                                           e.what()));  // the destructor joins those that started
    }
  }
  return q;
}

TaskQueue::~TaskQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void TaskQueue::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void TaskQueue::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return tasks_.empty() && running_ == 0; });
}

void TaskQueue::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (tasks_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

}  // namespace omnisage

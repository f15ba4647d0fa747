#include "profile/sampler.h"

#include <algorithm>
#include <atomic>

#include "util/elapsed.h"
#include "util/proc_memory.h"

namespace omnisage {
namespace {
std::atomic<MemorySampler*> g_observing{nullptr};  // the sampler receiving phase changes
}  // namespace

uint64_t MemorySample::ledger_total() const {
  uint64_t total = 0;
  for (uint64_t v : ledger) total += v;
  return total;
}

namespace {
uint64_t PageBudget(const MemorySamplerOptions& o) {
  if (o.page_cache_max_pages != 0) return o.page_cache_max_pages;
  return std::max<uint64_t>(4096,
                            512 * static_cast<uint64_t>(std::max<int64_t>(o.interval.count(), 1)));
}
}  // namespace

MemorySampler::MemorySampler(MemorySamplerOptions options)
    : options_(options), probe_(PageBudget(options), options.page_cache_max_new_files) {
  options_.interval = std::max(options_.interval, std::chrono::milliseconds(1));
}

MemorySampler::~MemorySampler() {
  StopObservingPhases();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemorySampler::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    start_ = std::chrono::steady_clock::now();
    started_ = true;
    SampleLocked().t_s = 0;  // the origin of time is this sample
  }
  g_observing.store(this);
  SetPhaseObserver([this](Phase p) { OnPhaseChange(p); });
  thread_ = std::thread([this] { Loop(); });
}

void MemorySampler::StopObservingPhases() {
  MemorySampler* self = this;
  // Only the sampler that installed the observer removes it; after this no call is in flight.
  if (g_observing.compare_exchange_strong(self, nullptr)) SetPhaseObserver(nullptr);
}

void MemorySampler::OnPhaseChange(Phase phase) {
  std::lock_guard<std::mutex> lock(mu_);
  MemorySample s = Snapshot(phase);
  s.page_cache_bytes = probe_stats_.resident_bytes;  // phase changes do not run the probe
  samples_.push_back(s);
  // The sampler thread follows with a full sample, fresh page-cache figure included.
  refresh_ = true;
  wake_.notify_one();
}

std::vector<MemorySample> MemorySampler::Stop() {
  StopObservingPhases();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  SampleNow();
  return samples();
}

std::vector<MemorySample> MemorySampler::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

PageCacheStats MemorySampler::page_cache_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return probe_stats_;
}

MemorySample MemorySampler::Snapshot(Phase phase) {
  MemorySample s;
  const auto now = std::chrono::steady_clock::now();
  s.t_s = started_ ? SecondsBetween(start_, now) : 0.0;
  s.phase = phase;
  const MemoryLedger& ledger = MemoryLedger::Global();
  for (int k = 0; k < kNumMemoryKinds; ++k)
    s.ledger[k] = ledger.current(static_cast<MemoryKind>(k));
  s.rss_bytes = CurrentRssBytes();
  return s;
}

MemorySample MemorySampler::SampleNow() {
  std::lock_guard<std::mutex> lock(mu_);
  return SampleLocked();
}

MemorySample& MemorySampler::SampleLocked() {
  MemorySample s = Snapshot(CurrentPhase());
  probe_stats_ = probe_.Sample();
  s.page_cache_bytes = probe_stats_.resident_bytes;
  samples_.push_back(s);
  return samples_.back();
}

void MemorySampler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next = start_ + options_.interval;
  while (true) {
    wake_.wait_until(lock, next, [this] { return stop_ || refresh_; });
    if (stop_) break;
    refresh_ = false;
    lock.unlock();
    SampleNow();
    lock.lock();
    // The next tick still in the future (ticks missed by a slow sample are skipped).
    const auto now = std::chrono::steady_clock::now();
    while (next <= now) next += options_.interval;
  }
}

}  // namespace omnisage

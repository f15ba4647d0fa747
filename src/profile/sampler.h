// MemorySampler: a thread that records, at a fixed interval, what the process's memory looks like:
// its resident set (the kernel's view, util/proc_memory.h), the page-cache bytes of the files it
// opened for reading (profile/page_cache.h), the engine's memory ledger by kind
// (util/memory_ledger.h) and the engine's phase (util/phase.h). `omnisage profile` runs a command
// in-process with one of these running, then hands the samples to profile/report.h.
//
// When: Start() takes the first sample (t = 0) before it returns; the thread then samples at
// t = k × interval (k = 1, 2, ...), measured from Start on the steady clock, so slow samples do
// not make the series drift; a tick missed because a sample took longer than the interval is
// skipped, not made up. In addition, while started, every change of phase (util/phase.h) records
// a sample at once, on the thread that changed it, so phases shorter than the interval still
// show and the time spent per phase is exact. Stop() joins the thread and takes a final sample.
//
// Cost: an interval sample reads /proc/self/status, loads four atomics and runs the page-cache
// probe, whose work is bounded (PageCacheProbe: at most `page_cache_max_pages` pages examined and
// `page_cache_max_new_files` files newly mapped per sample). By default the page budget is 512
// pages per millisecond of interval (at least 4,096): 2 GiB of model file re-examined per second
// whatever the interval, about 27 ms of mincore per second, under 3% of one core (up to 4.5% at
// intervals under 8 ms, where the floor of 4,096 pages applies). A 66 GiB checkpoint's
// page-cache figure is thus fully refreshed every ~33 s, a 2 MiB one at every sample.
// A phase-change sample skips the probe and repeats the last page-cache figure, so the engine
// thread pays one read of /proc/self/status (tens of microseconds) per phase change; it wakes
// the thread, which takes a full sample right after (outside the tick schedule).
//
// Thread-safe: Start and Stop are called by the owner (once each, in that order); samples(),
// SampleNow() and page_cache_stats() may be called from any thread (a mutex serializes
// sampling). Only one sampler observes phase changes at a time: the last one started.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "profile/page_cache.h"
#include "util/memory_ledger.h"
#include "util/phase.h"

namespace omnisage {

struct MemorySample {
  double t_s = 0;  // seconds since Start()
  uint64_t rss_bytes = 0;
  uint64_t page_cache_bytes = 0;
  std::array<uint64_t, kNumMemoryKinds> ledger{};  // current value per MemoryKind, by its index
  Phase phase = Phase::kIdle;

  uint64_t ledger_bytes(MemoryKind k) const { return ledger[static_cast<int>(k)]; }
  uint64_t ledger_total() const;
};

struct MemorySamplerOptions {
  std::chrono::milliseconds interval{100};
  uint64_t page_cache_max_pages = 0;  // 0: 512 per millisecond of interval, at least 4,096
  int page_cache_max_new_files = PageCacheProbe::kDefaultMaxNewFiles;
};

class MemorySampler {
 public:
  explicit MemorySampler(MemorySamplerOptions options = {});
  ~MemorySampler();  // stops the thread if still running (without the final sample)
  MemorySampler(const MemorySampler&) = delete;
  MemorySampler& operator=(const MemorySampler&) = delete;

  void Start();
  // Joins the thread, takes the final sample, returns every sample in time order.
  std::vector<MemorySample> Stop();

  // A copy of the samples so far, in time order.
  std::vector<MemorySample> samples() const;
  // Takes one sample now (t relative to Start, or 0 before it), records it and returns it.
  MemorySample SampleNow();
  // The page-cache probe's counters as of the last sample.
  PageCacheStats page_cache_stats() const;
  std::chrono::milliseconds interval() const { return options_.interval; }

 private:
  void Loop();
  MemorySample Snapshot(Phase phase);  // t, phase, ledger, RSS; the caller holds mu_
  MemorySample& SampleLocked();        // a full sample, appended; the caller holds mu_
  void OnPhaseChange(Phase phase);
  void StopObservingPhases();

  MemorySamplerOptions options_;
  mutable std::mutex mu_;  // guards everything below and the probe
  std::condition_variable wake_;
  bool stop_ = false;
  bool refresh_ = false;  // a phase changed: take a full sample now
  bool started_ = false;
  std::chrono::steady_clock::time_point start_;
  PageCacheProbe probe_;
  PageCacheStats probe_stats_;
  std::vector<MemorySample> samples_;
  std::thread thread_;
};

}  // namespace omnisage

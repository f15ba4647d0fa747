// MemoryLedger: the one account of the memory the engine holds on purpose, by kind. Every owner
// of a large allocation (dense weights, the expert cache, KV caches, activation buffers) adds its
// bytes when it allocates and subtracts them when it frees, so reports, the profiler and budget
// checks read one set of numbers. The process's resident set (util/proc_memory.h) is the
// kernel's view beside it; the difference is code, allocator slack and small objects.
//
// Thread-safe: counters are atomics; Add may be called from any thread (the expert loader's I/O
// threads add to kExpertCache).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace omnisage {

enum class MemoryKind : uint8_t {
  kDense,        // weights always resident: attention, norms, routers, embeddings, lm_head
  kExpertCache,  // routed-expert weights held by the expert cache (or all of them, unlimited)
  kKvCache,      // key/value caches of open sessions
  kActivations,  // per-forward scratch buffers
};
inline constexpr int kNumMemoryKinds = 4;
std::string_view MemoryKindName(
    MemoryKind k);  // "dense", "expert_cache", "kv_cache", "activations"

class MemoryLedger {
 public:
  // The process-wide ledger.
  static MemoryLedger& Global();

  // `delta` may be negative. Keeps the current value and the peak per kind and in total.
  void Add(MemoryKind kind, int64_t delta);
  uint64_t current(MemoryKind kind) const;
  uint64_t peak(MemoryKind kind) const;
  uint64_t total() const;       // sum of current values
  uint64_t peak_total() const;  // highest total seen
  // Forgets the peaks (the current values stay). For tests and benchmarks that run twice.
  void ResetPeaks();

  // A hard limit on total() (--memory, less what the ledger does not count); 0: none. The
  // ledger does not refuse a charge by itself (an allocation has already happened by then): the
  // owners of large allocations ask CheckRoom first, where an error can still be returned, and
  // the memory planner sizes everything else below the limit.
  void set_limit(uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // OK when there is no limit or total() + bytes fits it; else ResourceExhausted naming `what`,
  // the bytes, what the ledger holds by kind and the limit.
  Status CheckRoom(uint64_t bytes, std::string_view what) const;

 private:
  std::array<std::atomic<int64_t>, kNumMemoryKinds> current_{};
  std::array<std::atomic<int64_t>, kNumMemoryKinds> peak_{};
  std::atomic<int64_t> total_{0};
  std::atomic<int64_t> peak_total_{0};
  std::atomic<uint64_t> limit_{0};
};

// Charges `bytes` of `kind` to the global ledger for its lifetime (move-only).
class LedgerCharge {
 public:
  LedgerCharge() = default;
  LedgerCharge(MemoryKind kind, uint64_t bytes);
  LedgerCharge(LedgerCharge&& o) noexcept { *this = std::move(o); }
  LedgerCharge& operator=(LedgerCharge&& o) noexcept;
  ~LedgerCharge() { Reset(); }
  void Reset();
  uint64_t bytes() const { return bytes_; }

 private:
  MemoryKind kind_ = MemoryKind::kDense;
  uint64_t bytes_ = 0;
};

}  // namespace omnisage

#include "util/memory_ledger.h"

#include <fmt/format.h>

#include <string>
#include <utility>

#include "util/units.h"

namespace omnisage {
namespace {

void RaiseTo(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::string_view MemoryKindName(MemoryKind k) {
  switch (k) {
    case MemoryKind::kDense:
      return "dense";
    case MemoryKind::kExpertCache:
      return "expert_cache";
    case MemoryKind::kKvCache:
      return "kv_cache";
    case MemoryKind::kActivations:
      return "activations";
  }
  return "unknown";
}

MemoryLedger& MemoryLedger::Global() {
  static MemoryLedger ledger;
  return ledger;
}

void MemoryLedger::Add(MemoryKind kind, int64_t delta) {
  const int i = static_cast<int>(kind);
  const int64_t now = current_[i].fetch_add(delta, std::memory_order_relaxed) + delta;
  RaiseTo(peak_[i], now);
  const int64_t total = total_.fetch_add(delta, std::memory_order_relaxed) + delta;
  RaiseTo(peak_total_, total);
}

uint64_t MemoryLedger::current(MemoryKind kind) const {
  return static_cast<uint64_t>(current_[static_cast<int>(kind)].load(std::memory_order_relaxed));
}
uint64_t MemoryLedger::peak(MemoryKind kind) const {
  return static_cast<uint64_t>(peak_[static_cast<int>(kind)].load(std::memory_order_relaxed));
}
uint64_t MemoryLedger::total() const {
  return static_cast<uint64_t>(total_.load(std::memory_order_relaxed));
}
uint64_t MemoryLedger::peak_total() const {
  return static_cast<uint64_t>(peak_total_.load(std::memory_order_relaxed));
}

void MemoryLedger::ResetPeaks() {
  for (int i = 0; i < kNumMemoryKinds; ++i) peak_[i].store(current_[i].load());
  peak_total_.store(total_.load());
}

Status MemoryLedger::CheckRoom(uint64_t bytes, std::string_view what) const {
  const uint64_t cap = limit();
  const uint64_t now = total();
  if (cap == 0 || now + bytes <= cap) return Status::Ok();
  std::string held;
  for (int i = 0; i < kNumMemoryKinds; ++i) {
    const auto kind = static_cast<MemoryKind>(i);
    held +=
        fmt::format("{}{} {}", i > 0 ? ", " : "", MemoryKindName(kind), FormatBytes(current(kind)));
  }
  return ResourceExhausted(fmt::format(
      "out of memory under --memory: {} needs {}, but the ledger holds {} ({}) of its limit of {}",
      what, FormatBytes(bytes), FormatBytes(now), held, FormatBytes(cap)));
}

LedgerCharge::LedgerCharge(MemoryKind kind, uint64_t bytes) : kind_(kind), bytes_(bytes) {
  MemoryLedger::Global().Add(kind_, static_cast<int64_t>(bytes_));
}

LedgerCharge& LedgerCharge::operator=(LedgerCharge&& o) noexcept {
  if (this != &o) {
    Reset();
    kind_ = o.kind_;
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void LedgerCharge::Reset() {
  if (bytes_ != 0) MemoryLedger::Global().Add(kind_, -static_cast<int64_t>(bytes_));
  bytes_ = 0;
}

}  // namespace omnisage

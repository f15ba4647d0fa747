// What the process is doing now — loading, prefill, decode or idle — for the memory profiler's
// timeline (omnisage profile). The engine sets it; a sampler thread reads it.
//
// Thread-safe: one atomic.
#pragma once

#include <cstdint>
#include <string_view>

namespace omnisage {

enum class Phase : uint8_t { kIdle, kLoad, kPrefill, kDecode };
std::string_view PhaseName(Phase p);  // "idle", "load", "prefill", "decode"

void SetPhase(Phase p);
Phase CurrentPhase();

// Sets a phase for a scope and restores the previous one after.
class ScopedPhase {
 public:
  explicit ScopedPhase(Phase p) : previous_(CurrentPhase()) { SetPhase(p); }
  ~ScopedPhase() { SetPhase(previous_); }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  Phase previous_;
};

}  // namespace omnisage

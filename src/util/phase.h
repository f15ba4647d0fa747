// What the process is doing now — loading, prefill, decode, speaking or idle — for the memory
// profiler's timeline (omnisage profile). The engine sets it; a sampler thread reads it.
//
// Thread-safe: one atomic; an observer, when set, is called under a mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace omnisage {

// kSpeak: speech output after the text has ended (the talker's last frames and audio window;
// while the text streams, speech runs inside kDecode).
enum class Phase : uint8_t { kIdle, kLoad, kPrefill, kDecode, kSpeak };
std::string_view PhaseName(Phase p);  // "idle", "load", "prefill", "decode", "speak"

void SetPhase(Phase p);
Phase CurrentPhase();

// Called by SetPhase on every change of phase (not when the phase stays the same), on the thread
// that changed it, with the new phase; the memory profiler records a sample at each boundary, so
// phases shorter than its interval still show. One observer at a time; an empty function removes
// it, and once SetPhaseObserver returns the old observer is no longer running nor called. The
// observer must be quick and must not call SetPhase or SetPhaseObserver.
void SetPhaseObserver(std::function<void(Phase)> observer);

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

#include "util/phase.h"

#include <atomic>

namespace omnisage {
namespace {
std::atomic<Phase> g_phase{Phase::kIdle};
}  // namespace

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kIdle:
      return "idle";
    case Phase::kLoad:
      return "load";
    case Phase::kPrefill:
      return "prefill";
    case Phase::kDecode:
      return "decode";
  }
  return "unknown";
}

void SetPhase(Phase p) { g_phase.store(p, std::memory_order_relaxed); }
Phase CurrentPhase() { return g_phase.load(std::memory_order_relaxed); }

}  // namespace omnisage

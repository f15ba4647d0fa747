#include "util/phase.h"

#include <atomic>
#include <mutex>
#include <utility>

namespace omnisage {
namespace {
std::atomic<Phase> g_phase{Phase::kIdle};

struct Observer {
  std::atomic<bool> set{false};  // checked without the lock, so SetPhase stays one atomic op
  std::mutex mu;
  std::function<void(Phase)> fn;
};
Observer& GetObserver() {
  static Observer* o = new Observer();  // never destroyed: phases may change during exit
  return *o;
}
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
    case Phase::kSpeak:
      return "speak";
  }
  return "unknown";
}

void SetPhase(Phase p) {
  const Phase previous = g_phase.exchange(p, std::memory_order_relaxed);
  if (previous == p) return;
  Observer& o = GetObserver();
  if (!o.set.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(o.mu);
  if (o.fn) o.fn(p);
}

void SetPhaseObserver(std::function<void(Phase)> observer) {
  Observer& o = GetObserver();
  std::lock_guard<std::mutex> lock(o.mu);
  o.fn = std::move(observer);
  o.set.store(static_cast<bool>(o.fn), std::memory_order_release);
}
Phase CurrentPhase() { return g_phase.load(std::memory_order_relaxed); }

}  // namespace omnisage

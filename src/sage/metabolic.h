// Metabolic states: how much of the model SAGE spends on a token, and how much memory it holds.
//
//   state   experts per token (model top-k K)   cache fraction of the budget
//   wake    max(1, K / 2)                        1.0
//   focus   K (the model's own count)            1.0
//   crisis  min(2K, num_experts)                 1.0
//   rest    as wake (no tokens expected)         rest floor (default 0.25): idle, cache shrunk
//   dream   as wake (no tokens expected)         0: offline consolidation (sage/dream.h)
// For the real thinker (K = 8, 128 experts): 4, 8, 16.
//
// StateMachine picks the state from the salience EMA (sage/salience.h) and memory pressure, with
// hysteresis so a signal hovering at a threshold does not flap:
//   pressure > kPressureHigh (0.5): WAKE (no CRISIS, FOCUS drops to WAKE), whatever the salience.
//   otherwise, from WAKE:   CRISIS if s > kCrisisEnter (0.7), FOCUS if s > kFocusEnter (0.45).
//              from FOCUS:  CRISIS if s > kCrisisEnter; stays while s ≥ kFocusLeave (0.35),
//                           else WAKE.
//              from CRISIS: stays while s ≥ kCrisisLeave (0.6); else FOCUS while s ≥
//                           kFocusLeave, else WAKE.
// Update in REST or DREAM first wakes (a token is activity), then applies the rules from WAKE.
// Idle() enters REST, Dream() DREAM, Wake() returns to WAKE from either. Pin(state) fixes the
// state (the user's --state): every call then leaves it unchanged until Unpin().
//
// Not thread-safe: one owner (the generate loop).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace omnisage {

enum class MetabolicState : uint8_t { kWake, kFocus, kCrisis, kRest, kDream };
inline constexpr int kNumMetabolicStates = 5;

std::string_view MetabolicStateName(MetabolicState s);  // "wake", "focus", ...
// The names above; anything else is an error listing them.
StatusOr<MetabolicState> ParseMetabolicState(std::string_view name);
const std::vector<std::string>& MetabolicStateNames();  // in enum order

// Experts per token in `state` for a model choosing `top_k` of `num_experts`; always ≥ 1.
int ExpertsPerToken(MetabolicState state, int top_k, int num_experts);

inline constexpr double kDefaultRestFloor = 0.25;
// The fraction of the cache budget the state may hold, in [0, 1].
double CacheFraction(MetabolicState state, double rest_floor = kDefaultRestFloor);

inline constexpr double kCrisisEnter = 0.7;
inline constexpr double kCrisisLeave = 0.6;
inline constexpr double kFocusEnter = 0.45;
inline constexpr double kFocusLeave = 0.35;
inline constexpr double kPressureHigh = 0.5;

struct MetabolicTransition {
  MetabolicState from;
  MetabolicState to;
  int64_t update;   // the Update count when it happened
  double salience;  // the inputs of the last Update
  double pressure;
  std::string reason;  // "salience 0.72 > 0.70", "idle", "pinned", ...
};

class StateMachine {
 public:
  explicit StateMachine(MetabolicState initial = MetabolicState::kWake) : state_(initial) {}

  // Once per token: salience EMA and memory pressure (e.g. the fraction of time stalled on
  // expert loads), both in [0, 1]. Returns the new state.
  MetabolicState Update(double salience, double memory_pressure);
  MetabolicState Idle();   // → REST
  MetabolicState Dream();  // → DREAM
  MetabolicState Wake();   // REST or DREAM → WAKE (other states unchanged)

  // Fixes the state until Unpin (counts as a transition when it changes it).
  void Pin(MetabolicState state);
  void Unpin() { pinned_ = false; }
  bool pinned() const { return pinned_; }

  MetabolicState state() const { return state_; }
  int64_t updates() const { return updates_; }
  int64_t transitions() const { return transitions_; }
  // Updates spent in each state (indexed by the enum).
  const std::array<int64_t, kNumMetabolicStates>& updates_in() const { return updates_in_; }
  // Called on every transition (for logs); may be empty.
  void set_on_transition(std::function<void(const MetabolicTransition&)> fn) {
    on_transition_ = std::move(fn);
  }

 private:
  void Enter(MetabolicState to, std::string reason);

  MetabolicState state_;
  bool pinned_ = false;
  int64_t updates_ = 0;
  int64_t transitions_ = 0;
  std::array<int64_t, kNumMetabolicStates> updates_in_{};
  double last_salience_ = 0.0;
  double last_pressure_ = 0.0;
  std::function<void(const MetabolicTransition&)> on_transition_;
};

}  // namespace omnisage

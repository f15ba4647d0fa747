#include "sage/metabolic.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace omnisage {

std::string_view MetabolicStateName(MetabolicState s) {
  switch (s) {
    case MetabolicState::kWake:
      return "wake";
    case MetabolicState::kFocus:
      return "focus";
    case MetabolicState::kCrisis:
      return "crisis";
    case MetabolicState::kRest:
      return "rest";
    case MetabolicState::kDream:
      return "dream";
  }
  return "wake";
}

const std::vector<std::string>& MetabolicStateNames() {
  static const std::vector<std::string> names = {"wake", "focus", "crisis", "rest", "dream"};
  return names;
}

StatusOr<MetabolicState> ParseMetabolicState(std::string_view name) {
  for (int i = 0; i < kNumMetabolicStates; ++i) {
    const auto s = static_cast<MetabolicState>(i);
    if (MetabolicStateName(s) == name) return s;
  }
  return InvalidArgument(fmt::format("unknown metabolic state '{}' (valid: {})", name,
                                     fmt::join(MetabolicStateNames(), ", ")));
}

int ExpertsPerToken(MetabolicState state, int top_k, int num_experts) {
  const int n = std::max(num_experts, 1);
  const int k = std::clamp(top_k, 1, n);
  switch (state) {
    case MetabolicState::kFocus:
      return k;
    case MetabolicState::kCrisis:
      return std::min(2 * k, n);
    case MetabolicState::kWake:
    case MetabolicState::kRest:
    case MetabolicState::kDream:
      break;
  }
  return std::max(1, k / 2);
}

double CacheFraction(MetabolicState state, double rest_floor) {
  switch (state) {
    case MetabolicState::kWake:
    case MetabolicState::kFocus:
    case MetabolicState::kCrisis:
      return 1.0;
    case MetabolicState::kRest:
      return std::clamp(rest_floor, 0.0, 1.0);
    case MetabolicState::kDream:
      return 0.0;
  }
  return 1.0;
}

MetabolicState StateMachine::Update(double salience, double memory_pressure) {
  ++updates_;
  last_salience_ = salience;
  last_pressure_ = memory_pressure;
  if (!pinned_) {
    if (state_ == MetabolicState::kRest || state_ == MetabolicState::kDream) {
      Enter(MetabolicState::kWake, "token");
    }
    MetabolicState to = state_;
    std::string reason;
    if (memory_pressure > kPressureHigh) {
      to = MetabolicState::kWake;
      reason = fmt::format("memory pressure {:.2f} > {:.2f}", memory_pressure, kPressureHigh);
    } else if (state_ == MetabolicState::kCrisis) {
      if (salience < kCrisisLeave) {
        to = salience >= kFocusLeave ? MetabolicState::kFocus : MetabolicState::kWake;
        reason = fmt::format("salience {:.2f} < {:.2f}", salience, kCrisisLeave);
      }
    } else if (salience > kCrisisEnter) {
      to = MetabolicState::kCrisis;
      reason = fmt::format("salience {:.2f} > {:.2f}", salience, kCrisisEnter);
    } else if (state_ == MetabolicState::kFocus) {
      if (salience < kFocusLeave) {
        to = MetabolicState::kWake;
        reason = fmt::format("salience {:.2f} < {:.2f}", salience, kFocusLeave);
      }
    } else if (salience > kFocusEnter) {
      to = MetabolicState::kFocus;
      reason = fmt::format("salience {:.2f} > {:.2f}", salience, kFocusEnter);
    }
    if (to != state_) Enter(to, std::move(reason));
  }
  ++updates_in_[static_cast<int>(state_)];
  return state_;
}

MetabolicState StateMachine::Idle() {
  if (!pinned_ && state_ != MetabolicState::kRest) Enter(MetabolicState::kRest, "idle");
  return state_;
}

MetabolicState StateMachine::Dream() {
  if (!pinned_ && state_ != MetabolicState::kDream) Enter(MetabolicState::kDream, "dream");
  return state_;
}

MetabolicState StateMachine::Wake() {
  if (!pinned_ && (state_ == MetabolicState::kRest || state_ == MetabolicState::kDream)) {
    Enter(MetabolicState::kWake, "wake");
  }
  return state_;
}

void StateMachine::Pin(MetabolicState state) {
  pinned_ = true;
  if (state != state_) Enter(state, "pinned");
}

void StateMachine::Enter(MetabolicState to, std::string reason) {
  const MetabolicTransition t{state_,           to, updates_, last_salience_, last_pressure_,
                              std::move(reason)};
  state_ = to;
  ++transitions_;
  if (on_transition_) on_transition_(t);
}

}  // namespace omnisage

// Metabolic states: names, experts per token, cache fractions; the state machine's thresholds,
// hysteresis, memory pressure, idle / dream / wake and pinning.
#include "sage/metabolic.h"

#include <gtest/gtest.h>

#include <vector>

namespace omnisage {
namespace {

using S = MetabolicState;

TEST(MetabolicTest, NamesParseBack) {
  for (int i = 0; i < kNumMetabolicStates; ++i) {
    const auto s = static_cast<S>(i);
    auto parsed = ParseMetabolicState(MetabolicStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
    EXPECT_EQ(MetabolicStateNames()[i], MetabolicStateName(s));
  }
  auto bad = ParseMetabolicState("panic");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'panic'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("wake, focus, crisis, rest, dream"), std::string::npos);
}

TEST(MetabolicTest, ExpertsPerTokenAndCacheFraction) {
  // The real thinker: k = 8 of 128.
  EXPECT_EQ(ExpertsPerToken(S::kWake, 8, 128), 4);
  EXPECT_EQ(ExpertsPerToken(S::kFocus, 8, 128), 8);
  EXPECT_EQ(ExpertsPerToken(S::kCrisis, 8, 128), 16);
  EXPECT_EQ(ExpertsPerToken(S::kRest, 8, 128), 4);
  EXPECT_EQ(ExpertsPerToken(S::kDream, 8, 128), 4);
  EXPECT_EQ(ExpertsPerToken(S::kWake, 1, 4), 1);
  EXPECT_EQ(ExpertsPerToken(S::kCrisis, 8, 10), 10);
  EXPECT_EQ(ExpertsPerToken(S::kCrisis, 3, 4), 4);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kWake), 1.0);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kFocus), 1.0);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kCrisis), 1.0);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kRest), 0.25);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kRest, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(CacheFraction(S::kDream), 0.0);
}

TEST(MetabolicTest, ThresholdsWithHysteresis) {
  StateMachine m;
  EXPECT_EQ(m.state(), S::kWake);
  EXPECT_EQ(m.Update(0.44, 0), S::kWake);
  EXPECT_EQ(m.Update(0.46, 0), S::kFocus);   // > 0.45 enters
  EXPECT_EQ(m.Update(0.40, 0), S::kFocus);   // between: stays
  EXPECT_EQ(m.Update(0.36, 0), S::kFocus);   // still ≥ 0.35
  EXPECT_EQ(m.Update(0.34, 0), S::kWake);    // < 0.35 leaves
  EXPECT_EQ(m.Update(0.40, 0), S::kWake);    // between: stays
  EXPECT_EQ(m.Update(0.71, 0), S::kCrisis);  // > 0.7 enters, from WAKE directly
  EXPECT_EQ(m.Update(0.65, 0), S::kCrisis);  // between: stays
  EXPECT_EQ(m.Update(0.59, 0), S::kFocus);   // < 0.6 leaves, to FOCUS while ≥ 0.35
  EXPECT_EQ(m.Update(0.69, 0), S::kFocus);   // FOCUS does not re-enter CRISIS below 0.7
  EXPECT_EQ(m.Update(0.8, 0), S::kCrisis);
  EXPECT_EQ(m.Update(0.2, 0), S::kWake);  // straight down
  EXPECT_EQ(m.transitions(), 6);
  EXPECT_EQ(m.updates(), 12);
  EXPECT_EQ(m.updates_in()[static_cast<int>(S::kWake)], 4);
  EXPECT_EQ(m.updates_in()[static_cast<int>(S::kFocus)], 5);
  EXPECT_EQ(m.updates_in()[static_cast<int>(S::kCrisis)], 3);
}

TEST(MetabolicTest, MemoryPressureForbidsCrisisAndFocus) {
  StateMachine m;
  EXPECT_EQ(m.Update(0.9, 0.6), S::kWake);
  EXPECT_EQ(m.Update(0.9, 0.5), S::kCrisis);  // 0.5 is not above the limit
  EXPECT_EQ(m.Update(0.9, 0.51), S::kWake);
  EXPECT_EQ(m.Update(0.5, 0.0), S::kFocus);
  EXPECT_EQ(m.Update(0.5, 0.8), S::kWake);
}

TEST(MetabolicTest, IdleDreamWake) {
  StateMachine m;
  std::vector<MetabolicTransition> log;
  m.set_on_transition([&](const MetabolicTransition& t) { log.push_back(t); });
  m.Update(0.5, 0);
  EXPECT_EQ(m.Idle(), S::kRest);
  EXPECT_EQ(m.Wake(), S::kWake);
  EXPECT_EQ(m.Dream(), S::kDream);
  EXPECT_EQ(m.Wake(), S::kWake);
  EXPECT_EQ(m.Wake(), S::kWake);  // no-op
  m.Idle();
  EXPECT_EQ(m.Update(0.5, 0), S::kFocus);  // a token wakes, then the rules apply
  ASSERT_EQ(log.size(), 8u);
  EXPECT_EQ(log[0].from, S::kWake);
  EXPECT_EQ(log[0].to, S::kFocus);
  EXPECT_EQ(log[0].reason, "salience 0.50 > 0.45");
  EXPECT_EQ(log[1].reason, "idle");
  EXPECT_EQ(log[6].from, S::kRest);
  EXPECT_EQ(log[6].to, S::kWake);
  EXPECT_EQ(log[7].to, S::kFocus);
  EXPECT_EQ(m.transitions(), 8);
}

TEST(MetabolicTest, PinningFixesTheState) {
  StateMachine m;
  m.Pin(S::kCrisis);
  EXPECT_TRUE(m.pinned());
  EXPECT_EQ(m.state(), S::kCrisis);
  EXPECT_EQ(m.Update(0.0, 0.9), S::kCrisis);
  EXPECT_EQ(m.Idle(), S::kCrisis);
  EXPECT_EQ(m.Dream(), S::kCrisis);
  EXPECT_EQ(m.transitions(), 1);
  m.Pin(S::kWake);
  EXPECT_EQ(m.Update(0.9, 0.0), S::kWake);
  m.Unpin();
  EXPECT_EQ(m.Update(0.9, 0.0), S::kCrisis);
  EXPECT_EQ(m.transitions(), 3);
}

}  // namespace
}  // namespace omnisage

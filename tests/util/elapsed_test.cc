#include "util/elapsed.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace omnisage {
namespace {

TEST(ElapsedTest, SecondsBetweenTwoTimes) {
  const SteadyTime t = std::chrono::steady_clock::now();
  EXPECT_DOUBLE_EQ(SecondsBetween(t, t + std::chrono::milliseconds(1500)), 1.5);
  EXPECT_DOUBLE_EQ(SecondsBetween(t, t + std::chrono::microseconds(250)), 0.00025);
  EXPECT_DOUBLE_EQ(SecondsBetween(t, t), 0.0);
}

TEST(ElapsedTest, SecondsSinceGrowsWithTheClock) {
  const SteadyTime t = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double s = SecondsSince(t);
  EXPECT_GE(s, 0.020);
  EXPECT_LT(s, 5.0);
}

}  // namespace
}  // namespace omnisage

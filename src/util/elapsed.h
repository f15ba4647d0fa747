// Elapsed time: the one way durations are measured (steady clock, seconds as a double).
#pragma once

#include <chrono>

namespace omnisage {

using SteadyTime = std::chrono::steady_clock::time_point;

// Seconds from `start` to `end`.
inline double SecondsBetween(SteadyTime start, SteadyTime end) {
  return std::chrono::duration<double>(end - start).count();
}

// Seconds from `start` to now: `const auto start = std::chrono::steady_clock::now(); ...;
// SecondsSince(start)`.
inline double SecondsSince(SteadyTime start) {
  return SecondsBetween(start, std::chrono::steady_clock::now());
}

}  // namespace omnisage

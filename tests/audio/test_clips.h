// Deterministic test clips, bit-identical to tools/reference/audio_clips.py (integer arithmetic
// only): a triangle wave changing pitch every 0.1 s (222-889 Hz) plus LCG noise, every fifth
// quarter second silent. 16 kHz mono float32, peak 8047 / 32768.
#pragma once

#include <cstdint>
#include <vector>

namespace omnisage::testing {

inline std::vector<float> TestClip(uint32_t seed, int64_t n) {
  std::vector<float> out(n);
  uint32_t state = seed;
  for (int64_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;
    const int64_t noise = static_cast<int64_t>(state >> 20) - 2048;
    const int64_t period = 18 + ((i / 1600 + seed) % 7) * 9;
    const int64_t pos = i % period;
    const int64_t tri =
        2 * pos < period ? -6000 + (24000 * pos) / period : 18000 - (24000 * pos) / period;
    const int64_t v = (i / 4000) % 5 != 3 ? tri + noise : 0;
    out[i] = static_cast<float>(v) / 32768.0f;
  }
  return out;
}

}  // namespace omnisage::testing

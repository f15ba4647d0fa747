// Rotary position embedding tables (rotate-half layout), with Qwen3-Omni's interleaved multimodal
// assignment of frequencies to position axes.
//
// inv_freq[j] = theta^(-2j/head_dim), j < head_dim/2, computed in float32 as the reference does.
// With an mrope_section [t, h, w] and interleaving, frequency j takes the H position when
// j % 3 == 1 and j < 3h, the W position when j % 3 == 2 and j < 3w, else the T position
// (spec §5). For text every axis holds the token index, so this is ordinary 1-D RoPE.
// Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace omnisage {

class Rope {
 public:
  Rope(int64_t head_dim, double theta, const std::vector<int64_t>& mrope_section, bool interleaved);
  explicit Rope(const DecoderConfig& c)
      : Rope(c.head_dim, c.rope_theta, c.mrope_section, c.mrope_interleaved) {}

  int64_t half() const { return static_cast<int64_t>(inv_freq_.size()); }
  // cos/sin of the half() angles for a token at position (t, h, w). Positions are float32, as the
  // reference's (a video's t may be fractional; integers are exact up to 2^24).
  void Angles(float t, float h, float w, float* cos, float* sin) const;
  void Angles(int64_t t, int64_t h, int64_t w, float* cos, float* sin) const {
    Angles(static_cast<float>(t), static_cast<float>(h), static_cast<float>(w), cos, sin);
  }
  // The same for a text token (t = h = w = pos).
  void Angles(int64_t pos, float* cos, float* sin) const { Angles(pos, pos, pos, cos, sin); }

 private:
  std::vector<float> inv_freq_;
  std::vector<uint8_t> axis_;  // per frequency: 0 = T, 1 = H, 2 = W
};

}  // namespace omnisage

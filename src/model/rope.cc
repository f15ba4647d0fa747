#include "model/rope.h"

#include <cmath>

namespace omnisage {

Rope::Rope(int64_t head_dim, double theta, const std::vector<int64_t>& section, bool interleaved) {
  const int64_t half = head_dim / 2;
  inv_freq_.resize(half);
  axis_.assign(half, 0);
  for (int64_t j = 0; j < half; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq_[j] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  if (section.size() == 3) {
    if (interleaved) {
      for (int64_t j = 0; j < half; ++j) {
        if (j % 3 == 1 && j < 3 * section[1]) axis_[j] = 1;
        if (j % 3 == 2 && j < 3 * section[2]) axis_[j] = 2;
      }
    } else {  // contiguous sections (Qwen2-VL style): T block, then H, then W
      for (int64_t j = 0; j < half; ++j) {
        axis_[j] = j < section[0] ? 0 : j < section[0] + section[1] ? 1 : 2;
      }
    }
  }
}

void Rope::Angles(float t, float h, float w, float* cos, float* sin) const {
  const float pos[3] = {t, h, w};
  for (size_t j = 0; j < inv_freq_.size(); ++j) {
    const float a = pos[axis_[j]] * inv_freq_[j];
    cos[j] = std::cos(a);
    sin[j] = std::sin(a);
  }
}

}  // namespace omnisage

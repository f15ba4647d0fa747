#include "model/media_tokens.h"

#include <cstddef>

namespace omnisage {
namespace {

// Python's a // b for b > 0 (the reference's formula floors negative values).
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

int64_t AudioTokenCount(int64_t mel_frames, int64_t n_window) {
  const int64_t chunk = 2 * n_window;
  const int64_t feat = FloorDiv(mel_frames % chunk - 1, 2) + 1;
  return FloorDiv(FloorDiv(feat - 1, 2) + 1 - 1, 2) + 1 + (mel_frames / chunk) * 13;
}

std::vector<bool> AudioInVideoOrder(int64_t grid_t, int64_t grid_h, int64_t grid_w, int64_t merge,
                                    double second_per_grid, double position_id_per_seconds,
                                    int64_t audio_tokens) {
  const int64_t per_group = (grid_h / merge) * (grid_w / merge);
  const int64_t video_tokens = grid_t * per_group;
  std::vector<bool> order;
  order.reserve(static_cast<size_t>(video_tokens + audio_tokens));
  int64_t v = 0, a = 0;
  while (v < video_tokens && a < audio_tokens) {
    const double t = static_cast<double>(v / per_group) * second_per_grid * position_id_per_seconds;
    if (t <= static_cast<double>(a)) {
      order.push_back(true);
      ++v;
    } else {
      order.push_back(false);
      ++a;
    }
  }
  order.insert(order.end(), static_cast<size_t>(video_tokens - v), true);
  order.insert(order.end(), static_cast<size_t>(audio_tokens - a), false);
  return order;
}

}  // namespace omnisage

#include "model/media_tokens.h"

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

}  // namespace omnisage

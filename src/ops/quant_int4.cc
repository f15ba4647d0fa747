// How an int4 group's scale, zero point and values are chosen (Int4Rounding, ops/quant.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/quant.h"

namespace omnisage {

std::string_view Int4RoundingName(Int4Rounding r) {
  switch (r) {
    case Int4Rounding::kMinMax:
      return "minmax";
    case Int4Rounding::kSearch:
      return "search";
  }
  return "?";
}

std::optional<Int4Rounding> ParseInt4Rounding(std::string_view name) {
  for (Int4Rounding r : {Int4Rounding::kMinMax, Int4Rounding::kSearch}) {
    if (name == Int4RoundingName(r)) return r;
  }
  return std::nullopt;
}

namespace {

constexpr int64_t kMaxGroup = 128;
// Lanes of the partial sums: a fixed order of additions the compiler can keep in vector registers.
constexpr int kLanes = 8;
// (x + kRound) − kRound rounds x to the nearest integer, ties to even, for |x| < 2^22 (all the
// values below are within ±16 of 0): as std::nearbyint, but it vectorizes.
constexpr float kRound = 12582912.0f;  // 1.5 · 2^23

// The 4-bit value of x (w / scale) with zero point z.
inline float Level(float x, float z) {
  return std::min(std::max(((x + kRound) - kRound) + z, 0.0f), 15.0f);
}

// AutoAWQ's pseudo_quantize_tensor (zero_point=True, w_bit=4) on one group.
void MinMax(const float* w, int64_t n, uint8_t* q, float* scale, uint8_t* zero) {
  float lo = w[0], hi = w[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  const float s = std::max(hi - lo, 1e-5f) / 15.0f;
  const float z = std::clamp(-std::nearbyint(lo / s), 0.0f, 15.0f);
  *scale = s;
  *zero = static_cast<uint8_t>(z);
  for (int64_t i = 0; i < n; ++i) {
    q[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(w[i] / s) + z, 0.0f, 15.0f));
  }
}

// The values of w rounded with `scale` and `zero` (as QuantizeInt4Group stores them).
void RoundGroup(const float* w, int64_t n, float scale, float zero, uint8_t* q) {
  const float inv = 1.0f / scale;
  for (int64_t i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(Level(w[i] * inv, zero));
}

// Σ (w − scale · (q − zero))² with the values as Dequantize gives them back.
double SquaredError(const float* w, int64_t n, const uint8_t* q, float scale, uint8_t zero) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float back = scale * static_cast<float>(int{q[i]} - int{zero});
    const double d = static_cast<double>(back) - static_cast<double>(w[i]);
    e += d * d;
  }
  return e;
}

// A candidate: values rounded with (round_scale, zero), stored with the least-squares `scale`.
struct Fit {
  float round_scale = 0;
  float zero = 0;
  float scale = 0;
  double err = std::numeric_limits<double>::infinity();  // Σ importance · (w − scale (q − zero))²
};

class Searcher {
 public:
  // Each value's weight in the error: |w| + rms(w) of the group (llama.cpp's weighting for its
  // K-quants without an importance matrix), so the large values, which carry most of the
  // products, are placed more closely.
  Searcher(const float* w, int64_t n) : w_(w), n_(n) {
    double sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(w[i]) * w[i];
    const float rms = static_cast<float>(std::sqrt(sum_sq / static_cast<double>(n)));
    for (int64_t i = 0; i < n; ++i) {
      imp_[i] = std::fabs(w[i]) + rms;
      w2_ += static_cast<double>(imp_[i]) * w[i] * w[i];
    }
  }

  // Rounds with (s, z), fits the scale to the values by least squares, keeps it if better.
  void Try(float s, float z) {
    if (!(s > 0) || !std::isfinite(s)) return;
    const float inv = 1.0f / s;
    float wd[kLanes] = {}, dd[kLanes] = {};
    for (int64_t i = 0; i < n_; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const float x = w_[i + j];
        const float d = Level(x * inv, z) - z;
        const float a = imp_[i + j] * d;
        wd[j] += a * x;
        dd[j] += a * d;
      }
    }
    double swd = 0, sdd = 0;
    for (int j = 0; j < kLanes; ++j) {
      swd += wd[j];
      sdd += dd[j];
    }
    if (!(sdd > 0)) return;
    const double scale = swd / sdd;
    const double err = w2_ - swd * scale;
    if (err < best_.err && std::isfinite(scale) && scale > 0) {
      best_ = {s, z, static_cast<float>(scale), err};
    }
  }

  const Fit& best() const { return best_; }

 private:
  const float* w_;
  int64_t n_;
  float imp_[kMaxGroup];
  double w2_ = 0;
  Fit best_;
};

}  // namespace

void QuantizeInt4Group(const float* w, int64_t n, Int4Rounding rounding, uint8_t* q, float* scale,
                       uint8_t* zero) {
  MinMax(w, n, q, scale, zero);
  if (rounding == Int4Rounding::kMinMax || n > kMaxGroup || n % kLanes != 0) return;
  const float mm_scale = *scale, mm_zero = *zero;
  const double mm_err = SquaredError(w, n, q, mm_scale, *zero);
  if (mm_err == 0) return;

  float lo = 0, hi = 0;  // the grid holds 0: the span includes it
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  const float span = hi - lo;
  if (!(span > 1e-30f)) return;
  Searcher search(w, n);
  search.Try(mm_scale, mm_zero);
  for (int k = -2; k <= 2; ++k) {  // finer steps gained < 0.1% of the squared error, at 2× the time
    const float s = span / (15.0f + 0.5f * static_cast<float>(k));
    const float z_lo = std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f);
    const float z_hi = std::clamp(15.0f - std::nearbyint(hi / s), 0.0f, 15.0f);
    search.Try(s, z_lo);
    if (z_hi != z_lo) search.Try(s, z_hi);
  }
  for (int round = 0; round < 3; ++round) {
    const Fit before = search.best();
    for (float dz : {0.0f, -1.0f, 1.0f}) {
      const float z = before.zero + dz;
      if (z >= 0 && z <= 15) search.Try(before.scale, z);
    }
    if (search.best().err >= before.err) break;
  }
  const Fit& best = search.best();
  if (!std::isfinite(best.err)) return;
  uint8_t found[kMaxGroup];
  RoundGroup(w, n, best.round_scale, best.zero, found);
  const uint8_t found_zero = static_cast<uint8_t>(best.zero);
  if (SquaredError(w, n, found, best.scale, found_zero) >= mm_err) return;
  std::copy(found, found + n, q);
  *scale = best.scale;
  *zero = found_zero;
}

}  // namespace omnisage

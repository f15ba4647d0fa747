#include "ops/ref/kernels.h"

#include <cmath>

#include "tensor/bf16.h"

namespace omnisage::ref {

void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    for (int64_t o = 0; o < out; ++o) {
      const uint16_t* wo = w + o * in;
      double acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(xr[i]) * Bf16ToFloat(wo[i]);
      y[r * out + o] = static_cast<float>(acc);
    }
  }
}

void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(ss / dim) + eps);
  for (int64_t i = 0; i < dim; ++i) y[i] = Bf16ToFloat(weight[i]) * (x[i] * scale);
}

void Softmax(float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::fmax(m, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t h = head_dim / 2;
  for (int64_t j = 0; j < h; ++j) {
    const float a = x[j], b = x[j + h];
    x[j] = a * cos[j] - b * sin[j];
    x[j + h] = b * cos[j] + a * sin[j];
  }
}

void Axpy(float alpha, const float* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] += alpha * src[i];
}

}  // namespace omnisage::ref

#include "ops/ref/conv_kernels.h"

#include <cmath>
#include <vector>

#include "tensor/bf16.h"

namespace omnisage::ref {

void Conv1d(const float* x, int64_t t_out, int64_t c_in, const uint16_t* w, const uint16_t* bias,
            int64_t c_out, int64_t k, int64_t dilation, float* y) {
  for (int64_t t = 0; t < t_out; ++t) {
    for (int64_t o = 0; o < c_out; ++o) {
      double acc = bias != nullptr ? Bf16ToFloat(bias[o]) : 0.0;
      for (int64_t i = 0; i < c_in; ++i) {
        for (int64_t j = 0; j < k; ++j) {
          acc += static_cast<double>(x[(t + j * dilation) * c_in + i]) *
                 Bf16ToFloat(w[(o * c_in + i) * k + j]);
        }
      }
      y[t * c_out + o] = static_cast<float>(acc);
    }
  }
}

void ConvTranspose1d(const float* x, int64_t t_in, int64_t c_in, const uint16_t* w,
                     const uint16_t* bias, int64_t c_out, int64_t k, int64_t stride, float* y) {
  const int64_t t_out = (t_in - 1) * stride + k;
  std::vector<double> acc(t_out * c_out, 0.0);
  for (int64_t t = 0; t < t_in; ++t) {
    for (int64_t i = 0; i < c_in; ++i) {
      const double xv = x[t * c_in + i];
      for (int64_t o = 0; o < c_out; ++o) {
        for (int64_t j = 0; j < k; ++j) {
          acc[(t * stride + j) * c_out + o] += xv * Bf16ToFloat(w[(i * c_out + o) * k + j]);
        }
      }
    }
  }
  for (int64_t t = 0; t < t_out; ++t) {
    for (int64_t o = 0; o < c_out; ++o) {
      const double b = bias != nullptr ? Bf16ToFloat(bias[o]) : 0.0;
      y[t * c_out + o] = static_cast<float>(acc[t * c_out + o] + b);
    }
  }
}

void DepthwiseConv1d(const float* x, int64_t t_out, int64_t c, const uint16_t* w,
                     const uint16_t* bias, int64_t k, float* y) {
  for (int64_t t = 0; t < t_out; ++t) {
    for (int64_t ch = 0; ch < c; ++ch) {
      double acc = bias != nullptr ? Bf16ToFloat(bias[ch]) : 0.0;
      for (int64_t j = 0; j < k; ++j) {
        acc += static_cast<double>(x[(t + j) * c + ch]) * Bf16ToFloat(w[ch * k + j]);
      }
      y[t * c + ch] = static_cast<float>(acc);
    }
  }
}

void SnakeBeta(const float* x, int64_t t, int64_t c, const float* alpha, const float* inv_beta,
               float* y) {
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float v = x[r * c + ch];
      const float s = std::sin(v * alpha[ch]);
      y[r * c + ch] = v + inv_beta[ch] * (s * s);
    }
  }
}

void LayerNorm(const float* x, int64_t dim, const uint16_t* weight, const uint16_t* bias, float eps,
               float* y) {
  double sum = 0;
  for (int64_t i = 0; i < dim; ++i) sum += x[i];
  const double mean = sum / dim;
  double var = 0;
  for (int64_t i = 0; i < dim; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(var / dim + eps);
  for (int64_t i = 0; i < dim; ++i) {
    y[i] = static_cast<float>((x[i] - mean) * inv * Bf16ToFloat(weight[i]) + Bf16ToFloat(bias[i]));
  }
}

void Gelu(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}

}  // namespace omnisage::ref

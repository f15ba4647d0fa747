#include "ops/ref/quant_kernels.h"

#include <vector>

namespace omnisage::ref {

void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y) {
  std::vector<float> wf(static_cast<size_t>(out * in));
  Dequantize(w, out, in, wf.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(x[r * in + i]) * wf[o * in + i];
      y[r * out + o] = static_cast<float>(acc);
    }
  }
}

void MatMulQuantQ8(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                   float* y) {
  const int64_t blocks = in / kQ8Block;
  std::vector<int8_t> qx(static_cast<size_t>(rows * in));
  std::vector<float> sx(static_cast<size_t>(rows * blocks));
  QuantizeActivationsQ8(x, rows, in, qx.data(), sx.data());
  const bool int4 = w.format == WeightFormat::kInt4;
  const int64_t groups = int4 ? in / w.group : 1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        int64_t dot = 0;
        double sw = 1;
        for (int64_t i = b * kQ8Block; i < (b + 1) * kQ8Block; ++i) {
          int qw;
          if (int4) {
            const int64_t g = o * groups + i / w.group;
            qw = int{Int4At(static_cast<const uint8_t*>(w.q) + o * (in / 2), i)} - int{w.zero[g]};
            sw = w.scale[g];
          } else {
            qw = static_cast<const int8_t*>(w.q)[o * in + i];
          }
          dot += int64_t{qx[r * in + i]} * qw;
        }
        acc += sw * sx[r * blocks + b] * static_cast<double>(dot);
      }
      if (!int4) acc *= w.scale[o];
      y[r * out + o] = static_cast<float>(acc);
    }
  }
}

}  // namespace omnisage::ref

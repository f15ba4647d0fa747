// Dispatch to the fast kernels (ops/cpu: Highway SIMD with runtime target selection, the matmul
// split over the ThreadPool). Their references are in ops/ref; tests/ops/kernels_test.cc holds
// the two together.
#include "ops/ops.h"

#include "ops/cpu/kernels.h"
#include "ops/quant.h"

namespace omnisage::ops {

void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                ThreadPool* pool) {
  cpu::MatMulBf16(x, rows, in, w, out, y, pool);
}
void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y, ThreadPool* pool, QuantKernel kernel) {
  cpu::MatMulQuant(x, rows, in, w, out, y, pool, kernel == QuantKernel::kInt8Dot);
}
bool HasInt8Dot() { return cpu::HasInt8Dot(); }
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y) {
  cpu::RmsNorm(x, weight, dim, eps, y);
}
void Softmax(float* x, int64_t n) { cpu::Softmax(x, n); }
void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  cpu::SwiGlu(gate, up, n, out);
}
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin) {
  cpu::RopeRotateHalf(x, head_dim, cos, sin);
}
void Axpy(float alpha, const float* src, int64_t n, float* dst) { cpu::Axpy(alpha, src, n, dst); }
float Dot(const float* a, const float* b, int64_t n) { return cpu::Dot(a, b, n); }

}  // namespace omnisage::ops

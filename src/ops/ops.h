// The kernels the model calls. Each has a scalar reference in ref/kernels.h with the same
// contract (shapes, layouts, units are documented there); the versions here are the fast ones
// (SIMD through Highway with runtime dispatch, matmul split across a ThreadPool) and are tested
// against the references with an explicit error bound.
//
// Thread-safety: all functions are reentrant; MatMulBf16 uses `pool` (may be null: run on the
// calling thread).
#pragma once

#include <cstdint>

namespace omnisage {

class ThreadPool;

namespace ops {

void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                ThreadPool* pool);
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y);
void Softmax(float* x, int64_t n);
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin);
void Axpy(float alpha, const float* src, int64_t n, float* dst);
float Dot(const float* a, const float* b, int64_t n);

}  // namespace ops
}  // namespace omnisage

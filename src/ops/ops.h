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
struct QuantMatrix;

namespace ops {

void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                ThreadPool* pool);
// How MatMulQuant multiplies: kInt8Dot quantizes the activations per block of 32 and uses the
// CPU's int8 dot products where it has them (HasInt8Dot; otherwise, and for rows whose length is
// not a multiple of 64, it dequantizes); kDequant always widens the weights to f32 in registers.
enum class QuantKernel : uint8_t { kInt8Dot, kDequant };
// x: [rows, in] f32 times w [out, in] in a format of ops/quant.h (bf16 included) -> y [rows, out].
void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y, ThreadPool* pool, QuantKernel kernel = QuantKernel::kInt8Dot);
bool HasInt8Dot();
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y);
void Softmax(float* x, int64_t n);
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin);
void Axpy(float alpha, const float* src, int64_t n, float* dst);
float Dot(const float* a, const float* b, int64_t n);

}  // namespace ops
}  // namespace omnisage

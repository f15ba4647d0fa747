// SIMD kernels (Highway, runtime dispatch to the best target the CPU has: AVX-512, AVX2, SSE4,
// NEON, ...). Each computes what its scalar reference in ops/ref/kernels.h computes -- same
// shapes, layouts and units, documented there -- up to rounding: accumulation is in float32 in a
// different order (lanes, then a tree), and exp is Highway's polynomial (max error ~1 ulp).
// tests/ops/kernels_test.cc states and checks the error bound of each.
//
// Thread-safety: all functions are reentrant. MatMulBf16 keeps a per-thread scratch buffer (the
// activations, rearranged) that grows to the largest [rows, in] seen on that thread.
#pragma once

#include <cstdint>

namespace omnisage {

class ThreadPool;
struct QuantMatrix;

namespace cpu {

// y[r, o] = Σ_i x[r, i] · w[o, i]        x: [rows, in] f32, w: [out, in] bf16, y: [rows, out] f32.
// Streams each weight row once per block of 4 activation rows, converting bf16 to f32 in
// registers. When `pool` is not null and the product is large enough, the `out` dimension is split
// over the pool in 16-row-aligned chunks. y must not overlap x or w.
void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                ThreadPool* pool);

// y[r, o] = Σ_i x[r, i] · w̃[o, i]   x: [rows, in] f32, w: [out, in] in a format of ops/quant.h
// (bf16 goes to MatMulBf16). With `int8_dot` and a CPU with int8 dot products (HasInt8Dot) and
// in % 64 == 0, the activations are quantized to int8 per block of 32 and multiplied as integers
// (ref::MatMulQuantQ8's arithmetic); otherwise the weights are dequantized in registers
// (ref::MatMulQuant's). Output rows split over `pool` as MatMulBf16 does; results do not depend
// on the split. y must not overlap x or w.
void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y, ThreadPool* pool, bool int8_dot);
// Whether the Highway target dispatched to has int8 dot products (AVX-512 VNNI).
bool HasInt8Dot();

// Σ a[i]·b[i] over n values, accumulated in float32.
float Dot(const float* a, const float* b, int64_t n);

// y = weight ⊙ (x / sqrt(mean(x²) + eps)), one row of `dim`; weight bf16 [dim]. y may alias x.
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y);

// In-place softmax over n values (max-subtracted). n <= 0 does nothing.
void Softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) · up[i]. out may alias gate or up.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// Rotate-half rotary embedding of one head in place; cos/sin: [head_dim / 2].
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin);

// dst[i] += alpha · src[i]
void Axpy(float alpha, const float* src, int64_t n, float* dst);

}  // namespace cpu
}  // namespace omnisage

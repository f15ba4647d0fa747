// Scalar reference kernels: the truth every optimised kernel is tested against.
//
// Conventions: activations are float32; weights are bfloat16 stored as uint16_t, row-major
// [out_features, in_features] as in the checkpoints (y = x · Wᵀ). Accumulation is in float32 (the
// reference matmul accumulates in double so that it is a stable yardstick). No threads, no SIMD.
#pragma once

#include <cstdint>

namespace omnisage::ref {

// y[r, o] = Σ_i x[r, i] · w[o, i]        x: [rows, in], w: [out, in] bf16, y: [rows, out]
void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y);

// y = weight ⊙ (x / sqrt(mean(x²) + eps)), one row of `dim`; weight bf16 [dim]. y may alias x.
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y);

// In-place softmax over n values (max-subtracted).
void Softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) · up[i], silu(v) = v / (1 + e^-v). out may alias gate or up.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// Rotary embedding, rotate-half ("NeoX") layout, on one head of `head_dim` values:
// x'[j] = x[j]·cos[j] − x[j+h]·sin[j], x'[j+h] = x[j+h]·cos[j] + x[j]·sin[j], h = head_dim/2,
// where cos/sin hold the h angles' values.
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin);

// dst[i] += alpha · src[i]
void Axpy(float alpha, const float* src, int64_t n, float* dst);

}  // namespace omnisage::ref

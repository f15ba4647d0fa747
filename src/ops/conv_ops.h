// The vocoder's kernels (code2wav, spec §8.5), fast versions: each computes what its scalar
// reference in ops/ref/conv_kernels.h computes, up to rounding; tests/ops/conv_kernels_test.cc
// states and checks the bounds. Signals are time-major, [T, C].
//
// The convolutions run as matmuls (ops::MatMulBf16) over tiles of time: Conv1d gathers each output
// step's k input steps into one row (im2col) and multiplies by the weights repacked as
// [c_out, k·c_in]; ConvTranspose1d multiplies each input step by the weights as [k·c_out, c_in]
// and sums the k taps that land on each output step (in tap order, so the result does not depend
// on the tiling or the thread count). Tiles are split over `pool` (may be null).
//
// Thread-safety: reentrant. The convolutions keep a per-thread scratch buffer (the im2col or tap
// tile, at most ~4 MiB) that lives as long as the thread.
#pragma once

#include <cstdint>
#include <vector>

namespace omnisage {

class ThreadPool;

namespace ops {

// nn.Conv1d weight [c_out, c_in, k] → the packed [c_out, k, c_in] Conv1d takes.
std::vector<uint16_t> PackConv1dWeight(const uint16_t* w, int64_t c_out, int64_t c_in, int64_t k);
// nn.ConvTranspose1d weight [c_in, c_out, k] → the packed [k, c_out, c_in] ConvTranspose1d takes.
std::vector<uint16_t> PackConvTranspose1dWeight(const uint16_t* w, int64_t c_in, int64_t c_out,
                                                int64_t k);

// ref::Conv1d with w packed by PackConv1dWeight. y must not overlap x.
void Conv1d(const float* x, int64_t t_out, int64_t c_in, const uint16_t* w, const uint16_t* bias,
            int64_t c_out, int64_t k, int64_t dilation, float* y, ThreadPool* pool);

// ref::ConvTranspose1d with w packed by PackConvTranspose1dWeight; y: [(t_in − 1)·stride + k,
// c_out]. y must not overlap x.
void ConvTranspose1d(const float* x, int64_t t_in, int64_t c_in, const uint16_t* w,
                     const uint16_t* bias, int64_t c_out, int64_t k, int64_t stride, float* y,
                     ThreadPool* pool);

// ref::DepthwiseConv1d (same weight layout). y must not overlap x.
void DepthwiseConv1d(const float* x, int64_t t_out, int64_t c, const uint16_t* w,
                     const uint16_t* bias, int64_t k, float* y);

// ref::SnakeBeta, SIMD (Highway's Sin, ≤ 3 ulp for |x·alpha| < 39000; beyond that range the
// element is computed with std::sin). y may alias x.
void SnakeBeta(const float* x, int64_t t, int64_t c, const float* alpha, const float* inv_beta,
               float* y);

// ref::LayerNorm and ref::Gelu: applied to a few rows per code frame (not hot), so the fast
// versions are the references themselves.
void LayerNorm(const float* x, int64_t dim, const uint16_t* weight, const uint16_t* bias, float eps,
               float* y);
void Gelu(const float* x, int64_t n, float* y);

}  // namespace ops
}  // namespace omnisage

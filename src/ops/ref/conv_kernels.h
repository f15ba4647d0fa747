// Scalar references for the vocoder's kernels (code2wav, spec §8.5): 1-D convolution, transposed
// convolution, depthwise convolution, SnakeBeta, LayerNorm and GELU.
//
// Layout: a signal of T time steps and C channels is time-major, [T, C] (each time step's
// channels contiguous), so that a convolution is a matmul over rows of time. Weights are bf16 in
// the checkpoints' PyTorch layouts, so these functions state what the model means; the fast
// versions (ops/conv_ops.h) take them repacked. Accumulation is in double, rounded once. No
// padding is applied here: the caller pads the input (causal convolutions pad on the left).
#pragma once

#include <cstdint>

namespace omnisage::ref {

// y[t, o] = bias[o] + Σ_i Σ_j x[t + j·dilation, i] · w[o, i, j]
//   x: [t_out + (k − 1)·dilation, c_in], w: [c_out, c_in, k] bf16 (nn.Conv1d), bias: [c_out] bf16
//   or null, y: [t_out, c_out].
void Conv1d(const float* x, int64_t t_out, int64_t c_in, const uint16_t* w, const uint16_t* bias,
            int64_t c_out, int64_t k, int64_t dilation, float* y);

// The full transposed convolution (nn.ConvTranspose1d, no padding):
// y[t·stride + j, o] = bias[o] + Σ over (t, j) landing there of Σ_i x[t, i] · w[i, o, j]
//   x: [t_in, c_in], w: [c_in, c_out, k] bf16, bias: [c_out] bf16 or null,
//   y: [(t_in − 1)·stride + k, c_out].
void ConvTranspose1d(const float* x, int64_t t_in, int64_t c_in, const uint16_t* w,
                     const uint16_t* bias, int64_t c_out, int64_t k, int64_t stride, float* y);

// Depthwise (groups = channels): y[t, c] = bias[c] + Σ_j x[t + j, c] · w[c, j]
//   x: [t_out + k − 1, c], w: [c, 1, k] bf16, bias: [c] bf16 or null, y: [t_out, c].
void DepthwiseConv1d(const float* x, int64_t t_out, int64_t c, const uint16_t* w,
                     const uint16_t* bias, int64_t k, float* y);

// SnakeBeta per channel: y = x + inv_beta[c] · sin(x · alpha[c])², on [t, c]; alpha = exp(log α)
// and inv_beta = 1 / (exp(log β) + 1e-9) are the per-channel values the caller computed once.
// y may alias x.
void SnakeBeta(const float* x, int64_t t, int64_t c, const float* alpha, const float* inv_beta,
               float* y);

// y = (x − mean) / sqrt(var + eps) · weight + bias over one row of `dim` (biased variance);
// weight, bias bf16 [dim]. y may alias x.
void LayerNorm(const float* x, int64_t dim, const uint16_t* weight, const uint16_t* bias, float eps,
               float* y);

// y = x · (1 + erf(x / √2)) / 2, the exact GELU (nn.GELU()). y may alias x.
void Gelu(const float* x, int64_t n, float* y);

}  // namespace omnisage::ref

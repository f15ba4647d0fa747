// Scalar references for the quantized matmuls (ops::MatMulQuant): what the fast kernels compute,
// in plain loops accumulating in double. Weight formats are described in ops/quant.h.
#pragma once

#include <cstdint>

#include "ops/quant.h"

namespace omnisage::ref {

// y[r, o] = Σ_i x[r, i] · w̃[o, i], w̃ the dequantized weights (ops::Dequantize, in f32).
//   x: [rows, in] f32, w: [out, in] int8 or int4, y: [rows, out].
void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y);

// The integer-dot-product kernel's arithmetic: activations quantized per block of kQ8Block
// (QuantizeActivationsQ8: x ≈ sx[b] · qx), then
//   int8:  y[r, o] = scale[o] · Σ_b sx[r, b] · Σ_{i ∈ b} qx[r, i] · q[o, i]
//   int4:  y[r, o] = Σ_b scale[o, g(b)] · sx[r, b] · Σ_{i ∈ b} qx[r, i] · (q[o, i] − zero[o, g(b)])
// the integer sums exact, the rest in double. REQUIRES: in a multiple of kQ8Block.
void MatMulQuantQ8(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                   float* y);

}  // namespace omnisage::ref

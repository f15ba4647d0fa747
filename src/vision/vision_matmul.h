// The vision encoder's matrix products: f32 activations of many rows (hundreds to thousands of
// patches) times bf16 weights, as an outer-product kernel (SIMD through Highway with runtime
// dispatch):
//
//   y[r, o] = Σ_i x[r, i] · w[o, i]      x [rows, in] f32, w [out, in] bf16, y [rows, out] f32
//
// ops::MatMulBf16 is built for decode (a few rows, weights streamed once): it widens each bf16
// weight vector for a tile of 4 rows and ends every output with a horizontal sum. Here a panel of
// 2 vectors of output columns × 256 inputs is widened to f32 once and then used by every row of
// x: a register tile of 6 rows × 2 vectors accumulates from broadcast activations, with no
// horizontal sums, and the panel stays in L1. Panels of output columns are split over the pool.
// Each y[r, o] is summed in input order (256-input blocks in order, then each block in order)
// whichever thread or tile computes it, so the result does not depend on the thread split or on
// how many rows are multiplied together.
//
// Thread-safe (per-thread scratch for the widened panel).
#pragma once

#include <cstdint>

namespace omnisage {

class ThreadPool;

void VisionMatMul(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                  float* y, ThreadPool* pool);

}  // namespace omnisage

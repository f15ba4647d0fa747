// The vision encoder's attention within one frame, as blocked matrix products (SIMD through
// Highway with runtime dispatch):
//
//   out[t, head i] = Σ_j softmax_j(scale · q_t · k_j) · v_j      over the frame's m patches
//
// One head at a time, its keys packed transposed in tiles of `key_tile` keys (kt [m_pad / key_tile,
// head_dim, key_tile]: one tile's head_dim × key_tile values contiguous) and its values packed with
// padded rows (vp [m, hd_pad]) once, then blocks of queries: the scores of 4 queries against 2
// vectors of keys are accumulated over head_dim from broadcast query values (no horizontal sums),
// each row goes through ops::Softmax, and 4 output rows accumulate P · V over chunks of keys that
// stay in cache. Every query is computed the same way whichever block or thread takes it, so the
// result does not depend on the thread split. Accumulation is in float32 (scores over head_dim in
// order, outputs over keys in order).
//
// Thread-safe for distinct scratch and outputs.
#pragma once

#include <cstdint>

namespace omnisage {

// Sizes of one head's packed keys and values and of a block's scores, in floats.
struct HeadAttentionSizes {
  int64_t m_pad = 0;     // m rounded up to the key tile
  int64_t hd_pad = 0;    // head_dim rounded up to the vector width
  int64_t key_tile = 0;  // keys per score tile: 2 vectors of the dispatched target
  int64_t kt() const;
  int64_t vp(int64_t m) const;
  static HeadAttentionSizes For(int64_t m, int64_t head_dim);
};
// Queries per block (the scores buffer holds kAttentionBlock · m_pad floats).
inline constexpr int64_t kAttentionBlock = 32;

// Packs head `k` and `v` rows (m rows, row stride `stride` floats, head_dim values each) into `kt`
// and `vp` (sizes above; the padding is zeroed).
void PackAttentionHead(const float* k, const float* v, int64_t stride, int64_t m, int64_t head_dim,
                       const HeadAttentionSizes& s, float* kt, float* vp);

// out[r · out_stride + d] for r < nq (≤ kAttentionBlock), d < head_dim: attention of the queries
// q + r · q_stride against the packed head. `scores`: kAttentionBlock · m_pad floats;
// `acc`: kAttentionBlock · hd_pad floats.
void AttendPackedHead(const float* q, int64_t q_stride, int64_t nq, const float* kt,
                      const float* vp, int64_t m, int64_t head_dim, const HeadAttentionSizes& s,
                      float scale, float* scores, float* acc, float* out, int64_t out_stride);

}  // namespace omnisage

#include "vision/vision_attention.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ops/ops.h"

// Arrays of vectors (the accumulator tiles) need sized vector types; SVE's are sizeless.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "vision/vision_attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h re-includes this file once per target; what follows is compiled each time.
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Query rows per register tile.
constexpr int64_t kR = 4;
// Keys per chunk of the P · V pass (their packed values stay in L2).
constexpr int64_t kKeyChunk = 256;

// scores[r, j .. j + 2N) = scale · Σ_d q[r, d] · kt[d, j ..] for r < rows (≤ kR).
template <int64_t kRows>
HWY_INLINE void ScoreTile(const float* HWY_RESTRICT q, int64_t q_stride,
                          const float* HWY_RESTRICT kt, int64_t m_pad, int64_t head_dim, int64_t j,
                          float scale, float* HWY_RESTRICT scores) {
  const DF df;
  const int64_t n = static_cast<int64_t>(hn::Lanes(df));
  VF acc[kRows][2];
  for (int64_t r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = hn::Zero(df);
  const float* tile = kt + j * head_dim;  // the tile of keys j .. j + 2N: [head_dim, 2N]
  for (int64_t d = 0; d < head_dim; ++d) {
    const VF k0 = hn::LoadU(df, tile + d * 2 * n);
    const VF k1 = hn::LoadU(df, tile + d * 2 * n + n);
    for (int64_t r = 0; r < kRows; ++r) {
      const VF qb = hn::Set(df, q[r * q_stride + d]);
      acc[r][0] = hn::MulAdd(qb, k0, acc[r][0]);
      acc[r][1] = hn::MulAdd(qb, k1, acc[r][1]);
    }
  }
  const VF s = hn::Set(df, scale);
  for (int64_t r = 0; r < kRows; ++r) {
    hn::StoreU(hn::Mul(acc[r][0], s), df, scores + r * m_pad + j);
    hn::StoreU(hn::Mul(acc[r][1], s), df, scores + r * m_pad + j + n);
  }
}

// acc[r, g·N .. (g + kV)·N) += Σ_{j in [j0, j1)} p[r, j] · vp[j, ...] for r < kRows.
template <int64_t kRows, int64_t kV>
HWY_INLINE void ValueTile(const float* HWY_RESTRICT p, int64_t m_pad, const float* HWY_RESTRICT vp,
                          int64_t hd_pad, int64_t g, int64_t j0, int64_t j1,
                          float* HWY_RESTRICT acc) {
  const DF df;
  const int64_t n = static_cast<int64_t>(hn::Lanes(df));
  VF a[kRows][kV];
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t v = 0; v < kV; ++v) a[r][v] = hn::LoadU(df, acc + r * hd_pad + (g + v) * n);
  }
  for (int64_t j = j0; j < j1; ++j) {
    VF vv[kV];
    for (int64_t v = 0; v < kV; ++v) vv[v] = hn::LoadU(df, vp + j * hd_pad + (g + v) * n);
    for (int64_t r = 0; r < kRows; ++r) {
      const VF pb = hn::Set(df, p[r * m_pad + j]);
      for (int64_t v = 0; v < kV; ++v) a[r][v] = hn::MulAdd(pb, vv[v], a[r][v]);
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t v = 0; v < kV; ++v) hn::StoreU(a[r][v], df, acc + r * hd_pad + (g + v) * n);
  }
}

template <int64_t kRows>
void ValueRows(const float* p, int64_t m_pad, const float* vp, int64_t hd_pad, int64_t j0,
               int64_t j1, float* acc) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t vectors = hd_pad / n;
  int64_t g = 0;
  for (; g + 3 <= vectors; g += 3) ValueTile<kRows, 3>(p, m_pad, vp, hd_pad, g, j0, j1, acc);
  if (vectors - g == 2) ValueTile<kRows, 2>(p, m_pad, vp, hd_pad, g, j0, j1, acc);
  if (vectors - g == 1) ValueTile<kRows, 1>(p, m_pad, vp, hd_pad, g, j0, j1, acc);
}

void AttendT(const float* q, int64_t q_stride, int64_t nq, const float* kt, const float* vp,
             int64_t m, int64_t head_dim, int64_t m_pad, int64_t hd_pad, float scale, float* scores,
             float* acc, float* out, int64_t out_stride) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(DF()));
  // Scores: a chunk of 2N keys (its kt columns in L1) against every row tile of the block.
  for (int64_t j = 0; j < m_pad; j += 2 * n) {
    int64_t r = 0;
    for (; r + kR <= nq; r += kR) {
      ScoreTile<kR>(q + r * q_stride, q_stride, kt, m_pad, head_dim, j, scale, scores + r * m_pad);
    }
    switch (nq - r) {
      case 3:
        ScoreTile<3>(q + r * q_stride, q_stride, kt, m_pad, head_dim, j, scale, scores + r * m_pad);
        break;
      case 2:
        ScoreTile<2>(q + r * q_stride, q_stride, kt, m_pad, head_dim, j, scale, scores + r * m_pad);
        break;
      case 1:
        ScoreTile<1>(q + r * q_stride, q_stride, kt, m_pad, head_dim, j, scale, scores + r * m_pad);
        break;
      default:
        break;
    }
  }
  for (int64_t r = 0; r < nq; ++r) ops::Softmax(scores + r * m_pad, m);
  // P · V over chunks of keys whose packed values stay in cache across the row tiles.
  std::fill_n(acc, nq * hd_pad, 0.0f);
  for (int64_t j0 = 0; j0 < m; j0 += kKeyChunk) {
    const int64_t j1 = std::min(m, j0 + kKeyChunk);
    int64_t r = 0;
    for (; r + kR <= nq; r += kR) {
      ValueRows<kR>(scores + r * m_pad, m_pad, vp, hd_pad, j0, j1, acc + r * hd_pad);
    }
    switch (nq - r) {
      case 3:
        ValueRows<3>(scores + r * m_pad, m_pad, vp, hd_pad, j0, j1, acc + r * hd_pad);
        break;
      case 2:
        ValueRows<2>(scores + r * m_pad, m_pad, vp, hd_pad, j0, j1, acc + r * hd_pad);
        break;
      case 1:
        ValueRows<1>(scores + r * m_pad, m_pad, vp, hd_pad, j0, j1, acc + r * hd_pad);
        break;
      default:
        break;
    }
  }
  for (int64_t r = 0; r < nq; ++r) {
    std::memcpy(out + r * out_stride, acc + r * hd_pad, head_dim * sizeof(float));
  }
}

// The dispatched target's floats per vector.
int64_t LanesT() { return static_cast<int64_t>(hn::Lanes(DF())); }

}  // namespace HWY_NAMESPACE
}  // namespace omnisage
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage {

HWY_EXPORT(AttendT);
HWY_EXPORT(LanesT);

namespace {
int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
}  // namespace

HeadAttentionSizes HeadAttentionSizes::For(int64_t m, int64_t head_dim) {
  // Padded for the vector width of the target the kernels dispatch to (the same for every call).
  const int64_t lanes = HWY_DYNAMIC_DISPATCH(LanesT)();
  return {.m_pad = RoundUp(std::max<int64_t>(m, 1), 2 * lanes),
          .hd_pad = RoundUp(std::max<int64_t>(head_dim, 1), lanes),
          .key_tile = 2 * lanes};
}
int64_t HeadAttentionSizes::kt() const { return hd_pad * m_pad; }
int64_t HeadAttentionSizes::vp(int64_t m) const { return std::max<int64_t>(m, 1) * hd_pad; }

void PackAttentionHead(const float* k, const float* v, int64_t stride, int64_t m, int64_t head_dim,
                       const HeadAttentionSizes& s, float* kt, float* vp) {
  const int64_t w = s.key_tile;
  for (int64_t j = 0; j < s.m_pad; ++j) {
    float* col = kt + (j / w) * head_dim * w + j % w;  // key j's column of its tile
    for (int64_t d = 0; d < head_dim; ++d) col[d * w] = j < m ? k[j * stride + d] : 0.0f;
  }
  for (int64_t j = 0; j < m; ++j) {
    std::memcpy(vp + j * s.hd_pad, v + j * stride, head_dim * sizeof(float));
    std::fill(vp + j * s.hd_pad + head_dim, vp + (j + 1) * s.hd_pad, 0.0f);
  }
}

void AttendPackedHead(const float* q, int64_t q_stride, int64_t nq, const float* kt,
                      const float* vp, int64_t m, int64_t head_dim, const HeadAttentionSizes& s,
                      float scale, float* scores, float* acc, float* out, int64_t out_stride) {
  if (nq <= 0 || m <= 0) return;
  HWY_DYNAMIC_DISPATCH(AttendT)
  (q, q_stride, nq, kt, vp, m, head_dim, s.m_pad, s.hd_pad, scale, scores, acc, out, out_stride);
}

}  // namespace omnisage
#endif  // HWY_ONCE

#include "vision/vision_matmul.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "tensor/bf16.h"
#include "util/thread_pool.h"

// Arrays of vectors (the accumulator tiles) need sized vector types; SVE's are sizeless.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "vision/vision_matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h re-includes this file once per target; what follows is compiled each time.
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Inputs per widened panel block (2 vectors of columns × kK floats stay in L1).
constexpr int64_t kK = 256;
// Rows per register tile: 6 × 2 accumulators, 2 weight vectors, 1 broadcast.
constexpr int64_t kR = 6;

// panel[k, c] = w[o0 + c, k0 + k] as f32 for c < 2N (zero past `out`), k < kb.
void WidenPanel(const uint16_t* w, int64_t in, int64_t out, int64_t o0, int64_t k0, int64_t kb,
                int64_t width, float* panel) {
  for (int64_t c = 0; c < width; ++c) {
    const int64_t o = o0 + c;
    if (o >= out) {
      for (int64_t k = 0; k < kb; ++k) panel[k * width + c] = 0.0f;
      continue;
    }
    const uint16_t* src = w + o * in + k0;
    for (int64_t k = 0; k < kb; ++k) panel[k * width + c] = Bf16ToFloat(src[k]);
  }
}

// y[r, o0 .. o0 + cols) (+)= Σ_{k < kb} x[r, k0 + k] · panel[k, :] for r < kRows.
template <int64_t kRows>
HWY_INLINE void Tile(const float* HWY_RESTRICT x, int64_t in, int64_t k0, int64_t kb,
                     const float* HWY_RESTRICT panel, bool first, float* HWY_RESTRICT y,
                     int64_t out, int64_t cols) {
  const DF df;
  const int64_t n = static_cast<int64_t>(hn::Lanes(df));
  HWY_ALIGN float tmp[kRows * 2 * HWY_MAX_BYTES / sizeof(float)];
  VF acc[kRows][2];
  for (int64_t r = 0; r < kRows; ++r) {
    if (first) {
      acc[r][0] = acc[r][1] = hn::Zero(df);
    } else if (cols == 2 * n) {
      acc[r][0] = hn::LoadU(df, y + r * out);
      acc[r][1] = hn::LoadU(df, y + r * out + n);
    } else {
      for (int64_t c = 0; c < 2 * n; ++c) tmp[c] = c < cols ? y[r * out + c] : 0.0f;
      acc[r][0] = hn::Load(df, tmp);
      acc[r][1] = hn::Load(df, tmp + n);
    }
  }
  const float* xr = x + k0;
  for (int64_t k = 0; k < kb; ++k) {
    const VF w0 = hn::Load(df, panel + k * 2 * n);
    const VF w1 = hn::Load(df, panel + k * 2 * n + n);
    for (int64_t r = 0; r < kRows; ++r) {
      const VF xb = hn::Set(df, xr[r * in + k]);
      acc[r][0] = hn::MulAdd(xb, w0, acc[r][0]);
      acc[r][1] = hn::MulAdd(xb, w1, acc[r][1]);
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    if (cols == 2 * n) {
      hn::StoreU(acc[r][0], df, y + r * out);
      hn::StoreU(acc[r][1], df, y + r * out + n);
    } else {
      hn::Store(acc[r][0], df, tmp);
      hn::Store(acc[r][1], df, tmp + n);
      std::memcpy(y + r * out, tmp, cols * sizeof(float));
    }
  }
}

// Output columns [panel_begin · 2N, panel_end · 2N) ∩ [0, out) of every row.
void Panels(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
            int64_t panel_begin, int64_t panel_end) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t width = 2 * n;
  thread_local hwy::AlignedFreeUniquePtr<float[]> scratch;
  thread_local int64_t capacity = 0;
  if (capacity < kK * width) {
    scratch = hwy::AllocateAligned<float>(static_cast<size_t>(kK * width));
    capacity = kK * width;
  }
  float* panel = scratch.get();
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t o0 = p * width, cols = std::min(width, out - o0);
    for (int64_t k0 = 0; k0 < in; k0 += kK) {
      const int64_t kb = std::min(kK, in - k0);
      WidenPanel(w, in, out, o0, k0, kb, width, panel);
      const bool first = k0 == 0;
      int64_t r = 0;
      for (; r + kR <= rows; r += kR) {
        Tile<kR>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
      }
      switch (rows - r) {
        case 5:
          Tile<5>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
          break;
        case 4:
          Tile<4>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
          break;
        case 3:
          Tile<3>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
          break;
        case 2:
          Tile<2>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
          break;
        case 1:
          Tile<1>(x + r * in, in, k0, kb, panel, first, y + r * out + o0, out, cols);
          break;
        default:
          break;
      }
    }
  }
}

void VisionMatMulT(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                   float* y, ThreadPool* pool) {
  const int64_t width = 2 * static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t panels = (out + width - 1) / width;
  if (pool == nullptr || pool->num_threads() == 1 || panels < 2) {
    Panels(x, rows, in, w, out, y, 0, panels);
    return;
  }
  pool->ParallelFor(
      panels, [&](int64_t begin, int64_t end) { Panels(x, rows, in, w, out, y, begin, end); });
}

}  // namespace HWY_NAMESPACE
}  // namespace omnisage
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage {

HWY_EXPORT(VisionMatMulT);

void VisionMatMul(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                  float* y, ThreadPool* pool) {
  if (rows <= 0 || out <= 0) return;
  if (in <= 0) {
    std::fill_n(y, rows * out, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(VisionMatMulT)(x, rows, in, w, out, y, pool);
}

}  // namespace omnisage
#endif  // HWY_ONCE

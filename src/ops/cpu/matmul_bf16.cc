// MatMulBf16: f32 activations times bf16 weights, the kernel that dominates run time.
//
// Decode is a GEMV (rows = 1) over weights far larger than the caches, so it is bound by memory
// bandwidth: each weight byte is read exactly once, widened to f32 in registers, never stored,
// and the weights are read as four long sequential streams with software prefetch (TileRow says
// why). Prefill (rows up to a few hundred) reuses every weight vector for a tile of 4 activation
// rows, and walks the weights in L2-sized blocks of output rows so that the other row tiles find
// them in cache.
//
// bf16 -> f32 in registers: a bf16 is the high half of an f32, so a vector of 2N bf16 read as N
// u32 lanes holds, per lane j, w[2j] in the low half and w[2j+1] in the high half (little endian).
// `lane << 16` is then w[2j] as f32 and `lane & 0xffff0000` is w[2j+1]: two cheap ops for 2N
// weights, no cross-lane shuffle. The activations are rearranged to match once per call
// (PackActivations: per 2N block, the N even elements then the N odd ones), which costs rows * in
// copies against rows * out * in multiply-adds.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

// Arrays of vectors (the accumulator tiles) need sized vector types; SVE's are sizeless. NEON
// still covers Arm.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/matmul_bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h re-includes this file once per target; what follows is compiled each time.
#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

static_assert(std::endian::native == std::endian::little, "the u32 view of bf16 pairs");

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using VF = hn::Vec<DF>;

// Activation rows per tile: a weight vector is widened once and used kTileRows times.
constexpr size_t kTileRows = 4;
// Bytes of weights per output block: sized to stay in L2 (512 KiB and up on current x86 cores)
// while the row tiles of a prefill pass over it.
constexpr size_t kBlockBytes = 192 * 1024;
// How far ahead of each weight stream to prefetch (many DRAM latencies' worth at ~10 GB/s).
constexpr size_t kPrefetchBytes = 16 * 1024;
// Output rows per thread-pool work unit (whole cache lines of y; each unit is >= 16 weight rows).
constexpr int64_t kUnitRows = 16;
// Below this many multiply-adds a call runs on the calling thread: waking the pool costs a few
// microseconds, about what 2^17 multiply-adds cost on one core.
constexpr int64_t kMinParallelWork = int64_t{1} << 17;

// xp[r, :] for r < rows, stride `stride` floats: per block of 2N values, the N even-indexed ones
// then the N odd-indexed ones (matching the u32 view of the weights); the tail past in_main is
// copied as is.
void PackActivations(const float* x, size_t rows, size_t in, size_t in_main, size_t stride,
                     float* xp) {
  const size_t n = hn::Lanes(DF());
  for (size_t r = 0; r < rows; ++r) {
    const float* src = x + r * in;
    float* dst = xp + r * stride;
    for (size_t i = 0; i < in_main; i += 2 * n) {
      for (size_t j = 0; j < n; ++j) {
        dst[i + j] = src[i + 2 * j];
        dst[i + n + j] = src[i + 2 * j + 1];
      }
    }
    std::memcpy(dst + in_main, src + in_main, (in - in_main) * sizeof(float));
  }
}

// y[r, c] for r < kR, c < kC: kR packed activation rows (xp, row stride xstride) times the kC
// weight rows w + c * wstride, into y[r * ystride + c * ycstride]. `pf` (same strides) is
// prefetched as w is read.
template <size_t kR, size_t kC>
HWY_INLINE void Tile(const float* HWY_RESTRICT xp, size_t xstride, const uint16_t* HWY_RESTRICT w,
                     size_t wstride, const uint16_t* pf, size_t in, size_t in_main,
                     float* HWY_RESTRICT y, size_t ystride, size_t ycstride) {
  // For a single activation row the even and odd halves get their own accumulators, so that no
  // accumulator takes two dependent FMAs per step (FMA latency 4 cycles, 2 per cycle: 8
  // independent chains keep the units busy). It depends on kR only, never on kC, so every y[r, o]
  // is summed in the same order whichever tile computes it: results do not depend on how the
  // output rows were split over threads.
  constexpr size_t kHalves = kR == 1 ? 2 : 1;
  const DF df;
  const DU du;
  const size_t n = hn::Lanes(df);
  const auto high_half = hn::Set(du, 0xffff0000u);
  VF acc[kR][kC][kHalves];
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) {
      for (size_t h = 0; h < kHalves; ++h) acc[r][c][h] = hn::Zero(df);
    }
  }
  for (size_t i = 0; i < in_main; i += 2 * n) {
    if (i % 32 == 0) {  // one prefetch per 64-byte line (32 bf16) and row
      for (size_t c = 0; c < kC; ++c) hwy::Prefetch(pf + c * wstride + i);
    }
    VF w_even[kC], w_odd[kC];
    for (size_t c = 0; c < kC; ++c) {
      // Rows may start at any u16 offset (odd `in`); LoadU of a misaligned u32 pointer is fine
      // for Highway (unaligned vector load or memcpy).
      const auto pair = hn::LoadU(du, reinterpret_cast<const uint32_t*>(w + c * wstride + i));
      w_even[c] = hn::BitCast(df, hn::ShiftLeft<16>(pair));
      w_odd[c] = hn::BitCast(df, hn::And(pair, high_half));
    }
    for (size_t r = 0; r < kR; ++r) {
      const VF x_even = hn::Load(df, xp + r * xstride + i);
      const VF x_odd = hn::Load(df, xp + r * xstride + i + n);
      for (size_t c = 0; c < kC; ++c) {
        acc[r][c][0] = hn::MulAdd(x_even, w_even[c], acc[r][c][0]);
        acc[r][c][kHalves - 1] = hn::MulAdd(x_odd, w_odd[c], acc[r][c][kHalves - 1]);
      }
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) {
      VF v = acc[r][c][0];
      if (kHalves == 2) v = hn::Add(v, acc[r][c][kHalves - 1]);
      float sum = hn::GetLane(hn::SumOfLanes(df, v));
      for (size_t i = in_main; i < in; ++i) {
        sum += xp[r * xstride + i] * Bf16ToFloat(w[c * wstride + i]);
      }
      y[r * ystride + c * ycstride] = sum;
    }
  }
}

// Output rows [o_begin, o_end) of kR activation rows starting at xp / y (row stride out).
//
// The kC weight rows of a tile are not neighbours: the range is cut into kC equal segments and a
// tile takes row k of each, so the weights are read as kC long sequential streams. On the Zen 3
// this was measured on, that reads DRAM at ~1.5x the rate of neighbouring rows (short 1.5-4 KiB
// streams side by side, which the hardware prefetchers follow poorly) and of one single stream.
template <size_t kR>
void TileRow(const float* xp, size_t xstride, const uint16_t* w, size_t in, size_t in_main,
             size_t o_begin, size_t o_end, float* y, size_t out) {
  // Accumulators: kR * kC vectors (x2 when split); 1 x 4 (split), 2 x 4 and 4 x 2 use 8 of the
  // 16 AVX2 registers, leaving room for the widened weights and the activations.
  constexpr size_t kC = kR <= 2 ? 4 : 2;
  const size_t seg = (o_end - o_begin) / kC;  // rows per segment
  // Each stream prefetches ~kPrefetchBytes ahead of itself, within its segment.
  const size_t ahead = (kPrefetchBytes + 2 * in - 1) / (2 * in);
  for (size_t k = 0; k < seg; ++k) {
    const size_t o = o_begin + k;
    const size_t pf = o_begin + std::min(k + ahead, seg - 1);
    Tile<kR, kC>(xp, xstride, w + o * in, seg * in, w + pf * in, in, in_main, y + o, out, seg);
  }
  for (size_t o = o_begin + kC * seg; o < o_end; ++o) {
    Tile<kR, 1>(xp, xstride, w + o * in, in, w + o * in, in, in_main, y + o, out, 1);
  }
}

void MatMulRange(const float* xp, size_t rows, size_t xstride, size_t in, size_t in_main,
                 const uint16_t* w, size_t o_begin, size_t o_end, float* y, size_t out) {
  // With a single tile of rows there is no reuse to block for.
  const size_t block =
      rows <= kTileRows ? o_end - o_begin : std::max<size_t>(kUnitRows, kBlockBytes / (2 * in));
  for (size_t ob = o_begin; ob < o_end; ob += block) {
    const size_t oe = std::min(o_end, ob + block);
    for (size_t r = 0; r < rows; r += kTileRows) {
      const float* xr = xp + r * xstride;
      float* yr = y + r * out;
      switch (std::min(kTileRows, rows - r)) {
        case 4:
          TileRow<4>(xr, xstride, w, in, in_main, ob, oe, yr, out);
          break;
        case 3:
          TileRow<3>(xr, xstride, w, in, in_main, ob, oe, yr, out);
          break;
        case 2:
          TileRow<2>(xr, xstride, w, in, in_main, ob, oe, yr, out);
          break;
        default:
          TileRow<1>(xr, xstride, w, in, in_main, ob, oe, yr, out);
          break;
      }
    }
  }
}

void MatMulBf16T(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                 ThreadPool* pool) {
  const size_t n2 = 2 * hn::Lanes(DF());
  const size_t in_main = static_cast<size_t>(in) / n2 * n2;
  // A multiple of 16 floats keeps every packed row 64-byte aligned, so vector loads are aligned.
  const size_t stride = (static_cast<size_t>(in) + 15) / 16 * 16;

  // The packed activations; per thread, grown on demand, never shrunk.
  thread_local hwy::AlignedFreeUniquePtr<float[]> scratch;
  thread_local size_t capacity = 0;
  const size_t need = std::max<size_t>(1, rows * stride);
  if (need > capacity) {
    scratch = hwy::AllocateAligned<float>(need);
    capacity = need;
  }
  float* xp = scratch.get();
  PackActivations(x, rows, in, in_main, stride, xp);

  const int64_t work = rows * out * in;
  if (pool == nullptr || pool->num_threads() == 1 || work < kMinParallelWork ||
      out < 2 * kUnitRows) {
    MatMulRange(xp, rows, stride, in, in_main, w, 0, out, y, out);
    return;
  }
  const int64_t units = (out + kUnitRows - 1) / kUnitRows;
  pool->ParallelFor(units, [&](int64_t begin, int64_t end) {
    MatMulRange(xp, rows, stride, in, in_main, w, begin * kUnitRows, std::min(out, end * kUnitRows),
                y, out);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace omnisage::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage::cpu {

HWY_EXPORT(MatMulBf16T);

void MatMulBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out, float* y,
                ThreadPool* pool) {
  if (rows <= 0 || out <= 0) return;
  if (in <= 0) {
    std::fill(y, y + rows * out, 0.0f);  // empty sums
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulBf16T)(x, rows, in, w, out, y, pool);
}

}  // namespace omnisage::cpu
#endif  // HWY_ONCE

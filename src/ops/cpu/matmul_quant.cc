// MatMulQuant: f32 activations times int8 or int4 weights (formats in ops/quant.h).
//
// Two paths, each beside its scalar reference (ops/ref/quant_kernels.h):
//
// - Dequantize on the fly (every Highway target). Weights are widened to f32 in registers and
//   multiplied with the activations: int8 by PromoteTo i8 -> i32 -> f32, the row's scale applied
//   once at the end; int4 by PromoteTo u8 -> u32 of N packed bytes, whose low nibbles are N
//   consecutive elements of a 32-element block and whose high nibbles the N elements 16 further
//   on (the block order of ops/quant.h), so both halves meet the activations in their natural
//   order. (q − zero) is exact in f32; a group's products are summed in its own accumulators and
//   scaled once per group.
//
// - Integer dot products (AVX-512 VNNI: Highway's AVX3_DL target, which this file opts into).
//   The activations are quantized per block of 32 (QuantizeActivationsQ8, one definition shared
//   with the reference), and VPDPBUSD multiplies 64 unsigned weight bytes by 64 signed activation
//   bytes into 16 int32 lanes, four products each: lanes 0-7 are one 32-block, lanes 8-15 the
//   next. int4: the 32 packed bytes of two blocks are spread to 64 nibbles in element order
//   (a qword permute, a masked 16-bit shift, an AND); the zero point is subtracted as a second
//   VPDPBUSD of the broadcast zero bytes. int8: the weights are made unsigned by flipping the
//   sign bit (q + 128) and 128·Σqx (a VPDPBUSD of 0x80 bytes) is subtracted. Each lane's exact
//   integer sum is converted to f32 and multiplied by its block's activation scale times its
//   group's weight scale.
//
// Both paths compute every output from one weight row with the same accumulators whatever the
// tile, row block or thread computes it: results do not depend on how the work was split.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/cpu/kernels.h"
#include "ops/quant.h"
#include "util/thread_pool.h"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif
// Compile the AVX3_DL target (AVX-512 with VNNI, VBMI2, ...) too: Highway 1.0 leaves it out by
// default. Its attributes lack avx512vnni, which the integer path adds with a pragma.
#define HWY_WANT_AVX3_DL 1

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/matmul_quant.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
using DI32 = hn::RebindToSigned<DF>;
using DU32 = hn::RebindToUnsigned<DF>;
using DI8 = hn::Rebind<int8_t, DF>;
using DU8 = hn::Rebind<uint8_t, DF>;

constexpr int64_t kUnitRows = 16;
constexpr int64_t kMinParallelWork = int64_t{1} << 17;
constexpr size_t kTileRows = 4;
// Bytes of weights per output block while the row tiles of a prefill pass over it (L2).
constexpr size_t kBlockBytes = 192 * 1024;

// ---- dequantize on the fly --------------------------------------------------------------------

// kR activation rows (x, row stride xstride) times kC int8 weight rows (q, row stride in).
template <size_t kR, size_t kC>
HWY_INLINE void TileInt8(const float* HWY_RESTRICT x, size_t xstride, const int8_t* HWY_RESTRICT q,
                         size_t in, const float* scale, float* HWY_RESTRICT y, size_t ystride) {
  const DF df;
  const DI32 di32;
  const DI8 di8;
  const size_t n = hn::Lanes(df);
  const size_t in_main = in / (2 * n) * (2 * n);
  VF acc[kR][kC][2];
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) acc[r][c][0] = acc[r][c][1] = hn::Zero(df);
  }
  for (size_t i = 0; i < in_main; i += 2 * n) {
    VF w0[kC], w1[kC];
    for (size_t c = 0; c < kC; ++c) {
      w0[c] = hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, q + c * in + i)));
      w1[c] = hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, q + c * in + i + n)));
    }
    for (size_t r = 0; r < kR; ++r) {
      const VF x0 = hn::LoadU(df, x + r * xstride + i);
      const VF x1 = hn::LoadU(df, x + r * xstride + i + n);
      for (size_t c = 0; c < kC; ++c) {
        acc[r][c][0] = hn::MulAdd(x0, w0[c], acc[r][c][0]);
        acc[r][c][1] = hn::MulAdd(x1, w1[c], acc[r][c][1]);
      }
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) {
      float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc[r][c][0], acc[r][c][1])));
      for (size_t i = in_main; i < in; ++i) sum += x[r * xstride + i] * q[c * in + i];
      y[r * ystride + c] = scale[c] * sum;
    }
  }
}

// kR activation rows times kC int4 weight rows (packed q, row stride in / 2; scale and zero, row
// stride in / group).
template <size_t kR, size_t kC>
HWY_INLINE void TileInt4(const float* HWY_RESTRICT x, size_t xstride, const uint8_t* HWY_RESTRICT q,
                         size_t in, size_t group, const float* scale, const uint8_t* zero,
                         float* HWY_RESTRICT y, size_t ystride) {
  const DF df;
  const DI32 di32;
  const DU32 du32;
  const DU8 du8;
  const size_t n = hn::Lanes(df);  // <= 16 (64-byte vectors): divides the 16-element halves
  const size_t qstride = in / 2, groups = in / group;
  constexpr size_t kHalf = kInt4Block / 2;
  const auto low = hn::Set(du32, 0x0fu);
  VF acc[kR][kC];
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) acc[r][c] = hn::Zero(df);
  }
  for (size_t g = 0; g < groups; ++g) {
    VF gacc[kR][kC][2], zf[kC];
    for (size_t c = 0; c < kC; ++c) {
      zf[c] = hn::Set(df, static_cast<float>(zero[c * groups + g]));
      for (size_t r = 0; r < kR; ++r) gacc[r][c][0] = gacc[r][c][1] = hn::Zero(df);
    }
    for (size_t e = g * group; e < (g + 1) * group; e += kInt4Block) {
      for (size_t j = 0; j < kHalf; j += n) {
        VF lo[kC], hi[kC];
        for (size_t c = 0; c < kC; ++c) {
          const auto b = hn::PromoteTo(du32, hn::LoadU(du8, q + c * qstride + e / 2 + j));
          lo[c] = hn::Sub(hn::ConvertTo(df, hn::BitCast(di32, hn::And(b, low))), zf[c]);
          hi[c] = hn::Sub(hn::ConvertTo(df, hn::BitCast(di32, hn::ShiftRight<4>(b))), zf[c]);
        }
        for (size_t r = 0; r < kR; ++r) {
          const VF xl = hn::LoadU(df, x + r * xstride + e + j);
          const VF xh = hn::LoadU(df, x + r * xstride + e + kHalf + j);
          for (size_t c = 0; c < kC; ++c) {
            gacc[r][c][0] = hn::MulAdd(xl, lo[c], gacc[r][c][0]);
            gacc[r][c][1] = hn::MulAdd(xh, hi[c], gacc[r][c][1]);
          }
        }
      }
    }
    for (size_t c = 0; c < kC; ++c) {
      const VF s = hn::Set(df, scale[c * groups + g]);
      for (size_t r = 0; r < kR; ++r) {
        acc[r][c] = hn::MulAdd(hn::Add(gacc[r][c][0], gacc[r][c][1]), s, acc[r][c]);
      }
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    for (size_t c = 0; c < kC; ++c) y[r * ystride + c] = hn::GetLane(hn::SumOfLanes(df, acc[r][c]));
  }
}

// Output rows [o_begin, o_end) of kR activation rows: tiles of kC neighbouring weight rows.
template <size_t kR>
void DequantRows(const float* x, size_t xstride, const QuantMatrix& w, size_t in, size_t o_begin,
                 size_t o_end, float* y, size_t out) {
  constexpr size_t kC = kR == 1 ? 2 : 1;
  size_t o = o_begin;
  if (w.format == WeightFormat::kInt8) {
    const int8_t* q = static_cast<const int8_t*>(w.q);
    for (; o + kC <= o_end; o += kC) {
      TileInt8<kR, kC>(x, xstride, q + o * in, in, w.scale + o, y + o, out);
    }
    for (; o < o_end; ++o) TileInt8<kR, 1>(x, xstride, q + o * in, in, w.scale + o, y + o, out);
    return;
  }
  const uint8_t* q = static_cast<const uint8_t*>(w.q);
  const size_t group = static_cast<size_t>(w.group), groups = in / group;
  for (; o + kC <= o_end; o += kC) {
    TileInt4<kR, kC>(x, xstride, q + o * (in / 2), in, group, w.scale + o * groups,
                     w.zero + o * groups, y + o, out);
  }
  for (; o < o_end; ++o) {
    TileInt4<kR, 1>(x, xstride, q + o * (in / 2), in, group, w.scale + o * groups,
                    w.zero + o * groups, y + o, out);
  }
}

void DequantRange(const float* x, size_t rows, size_t in, const QuantMatrix& w, size_t o_begin,
                  size_t o_end, float* y, size_t out) {
  const size_t row_bytes = LayoutOf(w.format, 1, in, w.group).total();
  const size_t block =
      rows <= kTileRows ? o_end - o_begin : std::max<size_t>(kUnitRows, kBlockBytes / row_bytes);
  for (size_t ob = o_begin; ob < o_end; ob += block) {
    const size_t oe = std::min(o_end, ob + block);
    for (size_t r = 0; r < rows; r += kTileRows) {
      const float* xr = x + r * in;
      float* yr = y + r * out;
      switch (std::min(kTileRows, rows - r)) {
        case 4:
          DequantRows<4>(xr, in, w, in, ob, oe, yr, out);
          break;
        case 3:
          DequantRows<3>(xr, in, w, in, ob, oe, yr, out);
          break;
        case 2:
          DequantRows<2>(xr, in, w, in, ob, oe, yr, out);
          break;
        default:
          DequantRows<1>(xr, in, w, in, ob, oe, yr, out);
          break;
      }
    }
  }
}

// Splits the output rows over the pool in 16-row units (or runs on the caller's thread).
template <typename Range>
void SplitRows(int64_t rows, int64_t in, int64_t out, ThreadPool* pool, const Range& range) {
  const int64_t work = rows * out * in;
  if (pool == nullptr || pool->num_threads() == 1 || work < kMinParallelWork ||
      out < 2 * kUnitRows) {
    range(0, out);
    return;
  }
  const int64_t units = (out + kUnitRows - 1) / kUnitRows;
  pool->ParallelFor(units, [&](int64_t begin, int64_t end) {
    range(begin * kUnitRows, std::min(out, end * kUnitRows));
  });
}

void MatMulDequantT(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                    float* y, ThreadPool* pool) {
  SplitRows(rows, in, out, pool,
            [&](int64_t begin, int64_t end) { DequantRange(x, rows, in, w, begin, end, y, out); });
}

// ---- integer dot products (AVX-512 VNNI) ------------------------------------------------------

#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC push_options
#pragma GCC target("avx512vnni")

// The activations as the integer path reads them, per row r: qx[r * in ...] the int8 values,
// nqx their negations (so that a zero point or the +128 offset is subtracted by one more
// VPDPBUSD into the same accumulator), sxe[r * in / 4 ...] each block's scale repeated for its
// 8 lanes (a 64-value vector's 16 lanes: 8 of block 2v, 8 of block 2v + 1).
struct Q8Acts {
  const int8_t* qx;
  const int8_t* nqx;
  const float* sxe;
};

// One weight row (o) times kR activation rows (a, from row 0 of the tile).
template <size_t kR>
HWY_INLINE void Q8Row(const Q8Acts& a, size_t in, const QuantMatrix& w, size_t o,
                      float* HWY_RESTRICT y, size_t ystride) {
  const size_t vecs = in / 64;
  const __m512i zero_i = _mm512_setzero_si512();
  __m512 acc[kR][2];
  for (size_t r = 0; r < kR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  if (w.format == WeightFormat::kInt8) {
    const int8_t* q = static_cast<const int8_t*>(w.q) + o * in;
    const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
    for (size_t v = 0; v < vecs; ++v) {
      const __m512i qw = _mm512_xor_si512(_mm512_loadu_si512(q + 64 * v), sign);  // q + 128
      for (size_t r = 0; r < kR; ++r) {
        const size_t i = r * in + 64 * v;
        const __m512i d =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero_i, qw, _mm512_loadu_si512(a.qx + i)), sign,
                                _mm512_loadu_si512(a.nqx + i));
        acc[r][v & 1] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(a.sxe + i / 4), acc[r][v & 1]);
      }
    }
    for (size_t r = 0; r < kR; ++r) {
      y[r * ystride] = w.scale[o] * _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
    }
    return;
  }
  const uint8_t* q = static_cast<const uint8_t*>(w.q) + o * (in / 2);
  const size_t group = static_cast<size_t>(w.group), groups = in / group;
  const float* ws = w.scale + o * groups;
  const uint8_t* wz = w.zero + o * groups;
  const __m512i spread = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  // Bytes 0-15 (block 2v) and 16-31 (block 2v+1) to qwords [0 1 0 1 2 3 2 3], the second and
  // fourth 16 bytes shifted right by 4: 64 nibbles in element order.
  const auto unpack = [&](size_t v) {
    const __m512i packed =
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * v)));
    const __m512i wide = _mm512_permutexvar_epi64(spread, packed);
    return _mm512_and_si512(_mm512_mask_srli_epi16(wide, 0xff00ff00u, wide, 4), nibble);
  };
  if (group == 32) {  // two groups per vector
    for (size_t v = 0; v < vecs; ++v) {
      const __m512i qw = unpack(v);
      const __m512i zb = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(wz[2 * v])),
                                            _mm256_set1_epi8(static_cast<char>(wz[2 * v + 1])), 1);
      const __m512 wsv =
          _mm512_insertf32x8(_mm512_set1_ps(ws[2 * v]), _mm256_set1_ps(ws[2 * v + 1]), 1);
      for (size_t r = 0; r < kR; ++r) {
        const size_t i = r * in + 64 * v;
        const __m512i d =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero_i, qw, _mm512_loadu_si512(a.qx + i)), zb,
                                _mm512_loadu_si512(a.nqx + i));
        acc[r][v & 1] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d),
                            _mm512_mul_ps(_mm512_loadu_ps(a.sxe + i / 4), wsv), acc[r][v & 1]);
      }
    }
  } else {  // whole vectors per group: the weight scale once per group
    const size_t per_group = group / 64;
    for (size_t g = 0; g < groups; ++g) {
      const __m512i zb = _mm512_set1_epi8(static_cast<char>(wz[g]));
      __m512 gacc[kR];
      for (size_t r = 0; r < kR; ++r) gacc[r] = _mm512_setzero_ps();
      for (size_t v = g * per_group; v < (g + 1) * per_group; ++v) {
        const __m512i qw = unpack(v);
        for (size_t r = 0; r < kR; ++r) {
          const size_t i = r * in + 64 * v;
          const __m512i d =
              _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero_i, qw, _mm512_loadu_si512(a.qx + i)), zb,
                                  _mm512_loadu_si512(a.nqx + i));
          gacc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(a.sxe + i / 4), gacc[r]);
        }
      }
      const __m512 sw = _mm512_set1_ps(ws[g]);
      for (size_t r = 0; r < kR; ++r) acc[r][g & 1] = _mm512_fmadd_ps(gacc[r], sw, acc[r][g & 1]);
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    y[r * ystride] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
  }
}

void Q8Range(const Q8Acts& a, size_t rows, size_t in, const QuantMatrix& w, size_t o_begin,
             size_t o_end, float* y, size_t out) {
  const size_t row_bytes = LayoutOf(w.format, 1, in, w.group).total();
  const size_t block =
      rows <= kTileRows ? o_end - o_begin : std::max<size_t>(kUnitRows, kBlockBytes / row_bytes);
  for (size_t ob = o_begin; ob < o_end; ob += block) {
    const size_t oe = std::min(o_end, ob + block);
    for (size_t r = 0; r < rows; r += kTileRows) {
      const Q8Acts ar{a.qx + r * in, a.nqx + r * in, a.sxe + r * in / 4};
      float* yr = y + r * out;
      const size_t kr = std::min(kTileRows, rows - r);
      for (size_t o = ob; o < oe; ++o) {
        switch (kr) {
          case 4:
            Q8Row<4>(ar, in, w, o, yr + o, out);
            break;
          case 3:
            Q8Row<3>(ar, in, w, o, yr + o, out);
            break;
          case 2:
            Q8Row<2>(ar, in, w, o, yr + o, out);
            break;
          default:
            Q8Row<1>(ar, in, w, o, yr + o, out);
            break;
        }
      }
    }
  }
}

bool MatMulQ8T(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
               float* y, ThreadPool* pool) {
  if (in % 64 != 0) return false;
  // The quantized activations; per thread, grown on demand, never shrunk.
  thread_local std::vector<int8_t> qx, nqx;
  thread_local std::vector<float> sx, sxe;
  const size_t n = static_cast<size_t>(rows * in), blocks = n / kQ8Block;
  if (qx.size() < n) {
    qx.resize(n);
    nqx.resize(n);
    sx.resize(blocks);
    sxe.resize(n / 4);
  }
  QuantizeActivationsQ8(x, rows, in, qx.data(), sx.data());
  for (size_t i = 0; i < n; ++i) nqx[i] = static_cast<int8_t>(-qx[i]);
  for (size_t b = 0; b < blocks; ++b) std::fill_n(sxe.data() + 8 * b, 8, sx[b]);
  const Q8Acts a{qx.data(), nqx.data(), sxe.data()};
  SplitRows(rows, in, out, pool, [&](int64_t begin, int64_t end) {
    Q8Range(a, static_cast<size_t>(rows), static_cast<size_t>(in), w, begin, end, y, out);
  });
  return true;
}

#pragma GCC pop_options
#else
bool MatMulQ8T(const float*, int64_t, int64_t, const QuantMatrix&, int64_t, float*, ThreadPool*) {
  return false;  // no int8 dot product on this target
}
#endif  // HWY_TARGET == HWY_AVX3_DL

bool HasInt8DotT() { return HWY_TARGET == HWY_AVX3_DL; }

}  // namespace HWY_NAMESPACE
}  // namespace omnisage::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage::cpu {

HWY_EXPORT(MatMulDequantT);
HWY_EXPORT(MatMulQ8T);
HWY_EXPORT(HasInt8DotT);

bool HasInt8Dot() { return HWY_DYNAMIC_DISPATCH(HasInt8DotT)(); }

void MatMulQuant(const float* x, int64_t rows, int64_t in, const QuantMatrix& w, int64_t out,
                 float* y, ThreadPool* pool, bool int8_dot) {
  if (rows <= 0 || out <= 0) return;
  if (in <= 0) {
    std::fill(y, y + rows * out, 0.0f);
    return;
  }
  if (w.format == WeightFormat::kBf16) {
    MatMulBf16(x, rows, in, static_cast<const uint16_t*>(w.q), out, y, pool);
    return;
  }
  if (int8_dot && HWY_DYNAMIC_DISPATCH(MatMulQ8T)(x, rows, in, w, out, y, pool)) return;
  HWY_DYNAMIC_DISPATCH(MatMulDequantT)(x, rows, in, w, out, y, pool);
}

}  // namespace omnisage::cpu
#endif  // HWY_ONCE

// The vocoder kernels of ops/conv_ops.h. Convolutions are tiled matmuls; SnakeBeta is a Highway
// loop over each time step's channels.
#include "ops/conv_ops.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops/cpu/kernels.h"
#include "ops/ref/conv_kernels.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/conv_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h re-includes this file once per target; what follows is compiled each time.
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Highway's Sin is accurate for |arguments| below this (math-inl.h).
constexpr float kSinRange = 39000.0f;

void SnakeBetaT(const float* x, int64_t t, int64_t c, const float* alpha, const float* inv_beta,
                float* y) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t n = static_cast<size_t>(c);
  for (int64_t r = 0; r < t; ++r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    size_t i = 0;
    for (; i + nl <= n; i += nl) {
      const VF v = hn::LoadU(df, xr + i);
      const VF arg = hn::Mul(v, hn::LoadU(df, alpha + i));
      if (!hn::AllTrue(df, hn::Lt(hn::Abs(arg), hn::Set(df, kSinRange)))) {
        for (size_t l = i; l < i + nl; ++l) {
          const float s = std::sin(xr[l] * alpha[l]);
          yr[l] = xr[l] + inv_beta[l] * (s * s);
        }
        continue;
      }
      const VF s = hn::Sin(df, arg);
      hn::StoreU(hn::MulAdd(hn::LoadU(df, inv_beta + i), hn::Mul(s, s), v), df, yr + i);
    }
    for (; i < n; ++i) {
      const float s = std::sin(xr[i] * alpha[i]);
      yr[i] = xr[i] + inv_beta[i] * (s * s);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace omnisage::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage {
namespace cpu {
HWY_EXPORT(SnakeBetaT);
}  // namespace cpu

namespace ops {
namespace {

// Floats of scratch a tile may use (4 MiB): bounds the im2col / tap tile whatever the length.
constexpr int64_t kTileFloats = int64_t{1} << 20;
// Rows of a tile at least (below this the weights are re-read too often per row).
constexpr int64_t kMinTileRows = 16;
// MatMulBf16 works on groups of 4 rows and sums a row left alone in a different order; tiles start
// at multiples of 4 rows, so each row is summed the same way whatever the tiling and thread count.
constexpr int64_t kRowGroup = 4;

std::vector<float>& Scratch(int64_t n) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < n) scratch.resize(n);
  return scratch;
}

// Rows per tile for `rows` rows of `row_floats` each: within kTileFloats, and small enough that
// every thread of the pool gets a tile.
int64_t TileRows(int64_t rows, int64_t row_floats, ThreadPool* pool) {
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  int64_t tile = std::max<int64_t>(kMinTileRows, kTileFloats / std::max<int64_t>(1, row_floats));
  tile = std::min(tile, std::max<int64_t>(kMinTileRows, (rows + threads - 1) / threads));
  return (tile + kRowGroup - 1) / kRowGroup * kRowGroup;
}

// Runs fn(tile) for tiles [0, n) on the pool (or the calling thread).
template <typename F>
void ForTiles(int64_t n, ThreadPool* pool, const F& fn) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  };
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, range);
  } else {
    range(0, n);
  }
}

void AddBias(const uint16_t* bias, int64_t rows, int64_t c, float* y) {
  if (bias == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < c; ++o) y[r * c + o] += Bf16ToFloat(bias[o]);
  }
}

}  // namespace

std::vector<uint16_t> PackConv1dWeight(const uint16_t* w, int64_t c_out, int64_t c_in, int64_t k) {
  std::vector<uint16_t> packed(c_out * c_in * k);
  for (int64_t o = 0; o < c_out; ++o) {
    for (int64_t i = 0; i < c_in; ++i) {
      for (int64_t j = 0; j < k; ++j) packed[(o * k + j) * c_in + i] = w[(o * c_in + i) * k + j];
    }
  }
  return packed;
}

std::vector<uint16_t> PackConvTranspose1dWeight(const uint16_t* w, int64_t c_in, int64_t c_out,
                                                int64_t k) {
  std::vector<uint16_t> packed(c_in * c_out * k);
  for (int64_t i = 0; i < c_in; ++i) {
    for (int64_t o = 0; o < c_out; ++o) {
      for (int64_t j = 0; j < k; ++j)
        packed[(j * c_out + o) * c_in + i] = w[(i * c_out + o) * k + j];
    }
  }
  return packed;
}

void Conv1d(const float* x, int64_t t_out, int64_t c_in, const uint16_t* w, const uint16_t* bias,
            int64_t c_out, int64_t k, int64_t dilation, float* y, ThreadPool* pool) {
  if (t_out <= 0) return;
  const int64_t in = k * c_in;
  const int64_t tile = TileRows(t_out, in, pool);
  const int64_t tiles = (t_out + tile - 1) / tile;
  ForTiles(tiles, pool, [&](int64_t i) {
    const int64_t t0 = i * tile, m = std::min(tile, t_out - t0);
    const float* rows = x + t0 * c_in;  // k == 1: the input rows are the matmul's rows
    if (k > 1) {
      float* cols = Scratch(m * in).data();  // [m, k·c_in]
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < k; ++j) {
          std::copy_n(x + (t0 + r + j * dilation) * c_in, c_in, cols + r * in + j * c_in);
        }
      }
      rows = cols;
    }
    cpu::MatMulBf16(rows, m, in, w, c_out, y + t0 * c_out, /*pool=*/nullptr);
    AddBias(bias, m, c_out, y + t0 * c_out);
  });
}

void ConvTranspose1d(const float* x, int64_t t_in, int64_t c_in, const uint16_t* w,
                     const uint16_t* bias, int64_t c_out, int64_t k, int64_t stride, float* y,
                     ThreadPool* pool) {
  if (t_in <= 0) return;
  const int64_t t_out = (t_in - 1) * stride + k;
  const int64_t halo = (k - 1) / stride;  // earlier input steps whose taps reach a tile's outputs
  const int64_t row = k * c_out;          // one input step's taps, [k, c_out]
  const int64_t tile = TileRows(t_in, row, pool);
  const int64_t tiles = (t_in + tile - 1) / tile;
  ForTiles(tiles, pool, [&](int64_t i) {
    // Input steps [t0, t1) own the outputs [t0·stride, t1·stride) (the last tile: up to t_out);
    // the taps of steps t0 − halo .. t1 − 1 are computed, the halo's again by its neighbour.
    const int64_t t0 = i * tile, t1 = std::min(t_in, t0 + tile);
    const int64_t z0 = std::max<int64_t>(0, t0 - halo) / kRowGroup * kRowGroup;
    float* z = Scratch((t1 - z0) * row).data();  // [t1 − z0, k, c_out]
    cpu::MatMulBf16(x + z0 * c_in, t1 - z0, c_in, w, row, z, /*pool=*/nullptr);
    const int64_t p1 = t1 == t_in ? t_out : t1 * stride;
    for (int64_t p = t0 * stride; p < p1; ++p) {
      float* yp = y + p * c_out;
      for (int64_t o = 0; o < c_out; ++o) yp[o] = bias != nullptr ? Bf16ToFloat(bias[o]) : 0.0f;
      for (int64_t j = p % stride; j < k; j += stride) {  // taps in order: t descending
        const int64_t t = (p - j) / stride;
        if (t < 0) break;
        if (t >= t_in) continue;
        const float* zt = z + (t - z0) * row + j * c_out;
        for (int64_t o = 0; o < c_out; ++o) yp[o] += zt[o];
      }
    }
  });
}

void DepthwiseConv1d(const float* x, int64_t t_out, int64_t c, const uint16_t* w,
                     const uint16_t* bias, int64_t k, float* y) {
  std::vector<float> wt(k * c);  // [k, c]: tap j's weight for every channel
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t j = 0; j < k; ++j) wt[j * c + ch] = Bf16ToFloat(w[ch * k + j]);
  }
  for (int64_t t = 0; t < t_out; ++t) {
    float* yt = y + t * c;
    for (int64_t ch = 0; ch < c; ++ch) yt[ch] = bias != nullptr ? Bf16ToFloat(bias[ch]) : 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      const float* xt = x + (t + j) * c;
      const float* wj = wt.data() + j * c;
      for (int64_t ch = 0; ch < c; ++ch) yt[ch] += xt[ch] * wj[ch];
    }
  }
}

void SnakeBeta(const float* x, int64_t t, int64_t c, const float* alpha, const float* inv_beta,
               float* y) {
  if (t > 0 && c > 0) HWY_DYNAMIC_DISPATCH(cpu::SnakeBetaT)(x, t, c, alpha, inv_beta, y);
}

void LayerNorm(const float* x, int64_t dim, const uint16_t* weight, const uint16_t* bias, float eps,
               float* y) {
  ref::LayerNorm(x, dim, weight, bias, eps, y);
}

void Gelu(const float* x, int64_t n, float* y) { ref::Gelu(x, n, y); }

}  // namespace ops
}  // namespace omnisage
#endif  // HWY_ONCE

// The vector kernels around the matmuls: Dot, RmsNorm, Softmax, SwiGlu, RopeRotateHalf, Axpy.
//
// They are short (a hidden state, a head, an attention row) and called often, so each is one pass
// with several independent accumulators (to hide the add latency) and a scalar tail, except where
// the tail needs exp: there it goes through a padded vector so that every element sees the same
// exp approximation.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "ops/cpu/kernels.h"
#include "tensor/bf16.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/vector_ops.cc"
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

// Room for one vector of the widest target, for the exp tails.
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Widens n = Lanes(df) bf16 values at p to f32.
HWY_INLINE VF LoadBf16(DF df, const uint16_t* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::Rebind<uint32_t, DF> du32;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
}

// Σ a[i]·b[i] over n values with four accumulators; the tail is summed separately.
HWY_INLINE float DotImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  VF s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  size_t i = 0;
  for (; i + 4 * nl <= n; i += 4 * nl) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + nl), hn::LoadU(df, b + i + nl), s1);
    s2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * nl), hn::LoadU(df, b + i + 2 * nl), s2);
    s3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * nl), hn::LoadU(df, b + i + 3 * nl), s3);
  }
  for (; i + nl <= n; i += nl) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  const VF s = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  return hn::GetLane(hn::SumOfLanes(df, s)) + tail;
}

float DotT(const float* a, const float* b, int64_t n) {
  return DotImpl(a, b, static_cast<size_t>(n));
}

void RmsNormT(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t n = static_cast<size_t>(dim);
  const float ss = DotImpl(x, x, n);
  // Same float expression as the reference, so only ss differs.
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
  const VF vscale = hn::Set(df, scale);
  size_t i = 0;
  for (; i + nl <= n; i += nl) {
    const VF v = hn::Mul(hn::LoadU(df, x + i), vscale);
    hn::StoreU(hn::Mul(LoadBf16(df, weight + i), v), df, y + i);
  }
  for (; i < n; ++i) y[i] = Bf16ToFloat(weight[i]) * (x[i] * scale);
}

void SoftmaxT(float* x, int64_t count) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t n = static_cast<size_t>(count);
  size_t i = 0;
  VF vmax = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (; i + nl <= n; i += nl) vmax = hn::Max(vmax, hn::LoadU(df, x + i));
  float m = hn::GetLane(hn::MaxOfLanes(df, vmax));
  for (; i < n; ++i) m = std::max(m, x[i]);

  const VF vm = hn::Set(df, m);
  VF vsum = hn::Zero(df);
  for (i = 0; i + nl <= n; i += nl) {
    const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vm));
    hn::StoreU(e, df, x + i);
    vsum = hn::Add(vsum, e);
  }
  if (i < n) {
    // Padding with -inf makes the padded lanes exp to 0.
    HWY_ALIGN float buf[kMaxLanes];
    std::fill(buf, buf + nl, -std::numeric_limits<float>::infinity());
    std::copy(x + i, x + n, buf);
    const VF e = hn::Exp(df, hn::Sub(hn::Load(df, buf), vm));
    hn::Store(e, df, buf);
    vsum = hn::Add(vsum, e);
    std::copy(buf, buf + (n - i), x + i);
  }
  const VF vinv = hn::Set(df, 1.0f / hn::GetLane(hn::SumOfLanes(df, vsum)));
  for (i = 0; i + nl <= n; i += nl) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vinv), df, x + i);
  const float inv = hn::GetLane(vinv);
  for (; i < n; ++i) x[i] *= inv;
}

// silu(g) · u = g / (1 + e^-g) · u, in the reference's order of operations.
HWY_INLINE VF SwiGluVec(DF df, VF g, VF u) {
  // Highway's Exp is valid for arguments up to ~176 (beyond, its 2^q scaling wraps); clamping at
  // 100 keeps e^-g = inf for g < -88.7, so the result is -0 like the reference's.
  const VF e = hn::Exp(df, hn::Min(hn::Neg(g), hn::Set(df, 100.0f)));
  return hn::Mul(hn::Div(g, hn::Add(hn::Set(df, 1.0f), e)), u);
}

void SwiGluT(const float* gate, const float* up, int64_t count, float* out) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t n = static_cast<size_t>(count);
  size_t i = 0;
  for (; i + nl <= n; i += nl) {
    hn::StoreU(SwiGluVec(df, hn::LoadU(df, gate + i), hn::LoadU(df, up + i)), df, out + i);
  }
  if (i < n) {
    HWY_ALIGN float g[kMaxLanes] = {};
    HWY_ALIGN float u[kMaxLanes] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    hn::Store(SwiGluVec(df, hn::Load(df, g), hn::Load(df, u)), df, g);
    std::copy(g, g + (n - i), out + i);
  }
}

void RopeRotateHalfT(float* x, int64_t head_dim, const float* cos, const float* sin) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t h = static_cast<size_t>(head_dim / 2);
  float* lo = x;
  float* hi = x + h;
  size_t j = 0;
  for (; j + nl <= h; j += nl) {
    const VF a = hn::LoadU(df, lo + j), b = hn::LoadU(df, hi + j);
    const VF c = hn::LoadU(df, cos + j), s = hn::LoadU(df, sin + j);
    hn::StoreU(hn::MulSub(a, c, hn::Mul(b, s)), df, lo + j);
    hn::StoreU(hn::MulAdd(b, c, hn::Mul(a, s)), df, hi + j);
  }
  for (; j < h; ++j) {
    const float a = lo[j], b = hi[j];
    lo[j] = a * cos[j] - b * sin[j];
    hi[j] = b * cos[j] + a * sin[j];
  }
}

void AxpyT(float alpha, const float* src, int64_t count, float* dst) {
  const DF df;
  const size_t nl = hn::Lanes(df);
  const size_t n = static_cast<size_t>(count);
  const VF va = hn::Set(df, alpha);
  size_t i = 0;
  for (; i + nl <= n; i += nl) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, src + i), hn::LoadU(df, dst + i)), df, dst + i);
  }
  for (; i < n; ++i) dst[i] += alpha * src[i];
}

}  // namespace HWY_NAMESPACE
}  // namespace omnisage::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage::cpu {

HWY_EXPORT(DotT);
HWY_EXPORT(RmsNormT);
HWY_EXPORT(SoftmaxT);
HWY_EXPORT(SwiGluT);
HWY_EXPORT(RopeRotateHalfT);
HWY_EXPORT(AxpyT);

float Dot(const float* a, const float* b, int64_t n) {
  return n <= 0 ? 0.0f : HWY_DYNAMIC_DISPATCH(DotT)(a, b, n);
}
void RmsNorm(const float* x, const uint16_t* weight, int64_t dim, float eps, float* y) {
  if (dim > 0) HWY_DYNAMIC_DISPATCH(RmsNormT)(x, weight, dim, eps, y);
}
void Softmax(float* x, int64_t n) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(SoftmaxT)(x, n);
}
void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(SwiGluT)(gate, up, n, out);
}
void RopeRotateHalf(float* x, int64_t head_dim, const float* cos, const float* sin) {
  if (head_dim > 1) HWY_DYNAMIC_DISPATCH(RopeRotateHalfT)(x, head_dim, cos, sin);
}
void Axpy(float alpha, const float* src, int64_t n, float* dst) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(AxpyT)(alpha, src, n, dst);
}

}  // namespace omnisage::cpu
#endif  // HWY_ONCE

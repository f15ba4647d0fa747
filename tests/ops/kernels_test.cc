// The fast kernels (ops/ops.h -> ops/cpu) against their scalar references (ops/ref), on random
// inputs of awkward sizes, each with an explicit error bound.
//
// Notation: u = 2^-24, the unit roundoff of float32. Bounds are worst-case (Higham, "Accuracy and
// Stability of Numerical Algorithms", ch. 3-4: a sum whose terms each pass through at most d
// roundings is off by at most d·u·Σ|term|, to first order), so they hold for every Highway target,
// including the one-lane scalar fallback; they are loose for the wide targets, which is why each
// summing kernel also has an exact test on small integers, where any order gives the exact sum:
// a dropped, doubled or mispaired term shows up there as a wrong integer.
//
// Every test runs once per Highway target this CPU supports (AVX2, SSE4, SSSE3, scalar, ... as
// compiled), forced through hwy::SetSupportedTargetsForTest, so the fallbacks are tested too.
#include "ops/ref/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // float32 unit roundoff
// Absolute slack for results in the subnormal range, where relative error means nothing.
constexpr double kTiny = 1e-37;

// Sizes that are not multiples of any vector width, and the real ones.
const std::vector<int64_t> kSizes = {1, 2, 7, 15, 16, 17, 31, 64, 129, 768, 2048, 4096};

std::vector<float> RandomFloats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

std::vector<uint16_t> RandomBf16(std::mt19937& rng, int64_t n, float scale = 0.05f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<uint16_t> v(n);
  for (uint16_t& h : v) h = FloatToBf16(dist(rng));
  return v;
}

// Small integers in [-8, 8]: products and all partial sums of up to 2^18 terms are integers below
// 2^24, so they are exact in float32 whatever the order of summation.
std::vector<float> SmallIntFloats(std::mt19937& rng, int64_t n) {
  std::uniform_int_distribution<int> dist(-8, 8);
  std::vector<float> v(n);
  for (float& f : v) f = static_cast<float>(dist(rng));
  return v;
}

// The reference dot product (ops/ref has no Dot yet): double accumulation, rounded once.
float RefDot(const float* a, const float* b, int64_t n) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(acc);
}

// Runs each test with the kernels dispatched to one Highway target (the parameter).
class TargetTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string TargetParamName(const ::testing::TestParamInfo<int64_t>& info) {
  return hwy::TargetName(info.param);
}

#define OMNI_INSTANTIATE_FOR_TARGETS(suite) \
  INSTANTIATE_TEST_SUITE_P(                 \
      Targets, suite, ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), TargetParamName)

// --- MatMulBf16 --------------------------------------------------------------------------------

// Checks ops::MatMulBf16 against ref::MatMulBf16 for one shape. Bound, per output:
//   |fast − ref| ≤ (in + 4)·u·Σ_i |x_i·w_i| + u·|ref|
// The products x_i·w_i are exact in f32 before rounding (a bf16 has 8 significant bits), every
// FMA rounds once, and a term passes through at most in/N sequential adds in its lane, log2(N) in
// the lane tree and < 2N for the tail: at most in + 3 for any lane count N >= 1. The reference
// sums in double and rounds once (the u·|ref| term).
void CheckMatMul(int64_t rows, int64_t in, int64_t out, ThreadPool* pool, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> x = RandomFloats(rng, rows * in);
  const std::vector<uint16_t> w = RandomBf16(rng, out * in);
  std::vector<float> fast(rows * out, std::nanf("")), ref(rows * out);
  ops::MatMulBf16(x.data(), rows, in, w.data(), out, fast.data(), pool);
  ref::MatMulBf16(x.data(), rows, in, w.data(), out, ref.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double abs_sum = 0;
      for (int64_t i = 0; i < in; ++i) {
        abs_sum += std::fabs(static_cast<double>(x[r * in + i]) * Bf16ToFloat(w[o * in + i]));
      }
      const double want = ref[r * out + o];
      const double bound = (in + 4) * kU * abs_sum + kU * std::fabs(want) + kTiny;
      ASSERT_LE(std::fabs(fast[r * out + o] - want), bound)
          << "rows=" << rows << " in=" << in << " out=" << out << " r=" << r << " o=" << o
          << (pool ? " pooled" : "");
    }
  }
}

class MatMulBf16Test : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(MatMulBf16Test);

TEST_P(MatMulBf16Test, MatchesReferenceOnAwkwardShapes) {
  uint32_t seed = 1;
  for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 9}) {
    for (int64_t in : kSizes) {
      for (int64_t out : {1, 3, 17, 40}) CheckMatMul(rows, in, out, nullptr, seed++);
    }
  }
}

// Shapes large enough to be split over the pool (>= 2^17 multiply-adds and >= 32 output rows),
// with output counts that are not multiples of the 16-row work unit.
TEST_P(MatMulBf16Test, MatchesReferenceWithThreadPool) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    uint32_t seed = 100 * threads;
    CheckMatMul(1, 2048, 768, &pool, seed++);
    CheckMatMul(1, 768, 2048, &pool, seed++);
    CheckMatMul(3, 129, 1000, &pool, seed++);
    CheckMatMul(9, 4096, 77, &pool, seed++);
    CheckMatMul(6, 7, 5000, &pool, seed++);
  }
}

// Every output is summed in the same order whatever the split over threads: the result does not
// depend on the pool size (bit for bit).
TEST_P(MatMulBf16Test, ResultDoesNotDependOnThreadCount) {
  std::mt19937 rng(9);
  ThreadPool pool2(2), pool3(3);
  for (int64_t rows : {1, 3, 6}) {
    const int64_t in = 129, out = 1000;
    const std::vector<float> x = RandomFloats(rng, rows * in);
    const std::vector<uint16_t> w = RandomBf16(rng, out * in);
    std::vector<float> y1(rows * out), y2(rows * out), y3(rows * out);
    ops::MatMulBf16(x.data(), rows, in, w.data(), out, y1.data(), nullptr);
    ops::MatMulBf16(x.data(), rows, in, w.data(), out, y2.data(), &pool2);
    ops::MatMulBf16(x.data(), rows, in, w.data(), out, y3.data(), &pool3);
    EXPECT_EQ(y1, y2) << "rows=" << rows;
    EXPECT_EQ(y1, y3) << "rows=" << rows;
  }
}

// Prefill-sized: many row tiles over several L2 blocks of output rows.
TEST_P(MatMulBf16Test, MatchesReferenceForPrefillRows) {
  ThreadPool pool(2);
  CheckMatMul(37, 2048, 200, &pool, 7);
  CheckMatMul(64, 768, 130, nullptr, 8);
}

// Integers: exact in any summation order, so fast must equal ref bit for bit.
TEST_P(MatMulBf16Test, ExactOnSmallIntegers) {
  ThreadPool pool(2);
  std::mt19937 rng(42);
  for (int64_t rows : {1, 4, 5, 9}) {
    for (int64_t in : kSizes) {
      for (int64_t out : {1, 33, 129}) {
        const std::vector<float> x = SmallIntFloats(rng, rows * in);
        const std::vector<float> wf = SmallIntFloats(rng, out * in);
        std::vector<uint16_t> w(wf.size());
        for (size_t i = 0; i < wf.size(); ++i) w[i] = FloatToBf16(wf[i]);
        std::vector<float> fast(rows * out), ref(rows * out);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          ops::MatMulBf16(x.data(), rows, in, w.data(), out, fast.data(), p);
          ref::MatMulBf16(x.data(), rows, in, w.data(), out, ref.data());
          ASSERT_EQ(fast, ref) << "rows=" << rows << " in=" << in << " out=" << out;
        }
      }
    }
  }
}

// The weights may start at any address and rows at any u16 offset (odd `in`).
TEST_P(MatMulBf16Test, UnalignedWeightsAndActivations) {
  std::mt19937 rng(5);
  const int64_t rows = 3, in = 129, out = 21;
  std::vector<float> xbuf = SmallIntFloats(rng, rows * in + 1);
  std::vector<uint16_t> wbuf(out * in + 1);
  for (uint16_t& h : wbuf) h = FloatToBf16(static_cast<float>(rng() % 9) - 4.0f);
  std::vector<float> fast(rows * out), ref(rows * out);
  ops::MatMulBf16(xbuf.data() + 1, rows, in, wbuf.data() + 1, out, fast.data(), nullptr);
  ref::MatMulBf16(xbuf.data() + 1, rows, in, wbuf.data() + 1, out, ref.data());
  EXPECT_EQ(fast, ref);
}

// Degenerate shapes: no rows or outputs writes nothing; in == 0 gives empty sums (zeros).
TEST_P(MatMulBf16Test, DegenerateShapes) {
  ThreadPool pool(2);
  std::vector<float> y(64, 7.0f);
  const float x[1] = {1.0f};
  const uint16_t w[1] = {FloatToBf16(1.0f)};
  ops::MatMulBf16(x, 0, 1, w, 1, y.data(), &pool);
  ops::MatMulBf16(x, 1, 1, w, 0, y.data(), &pool);
  EXPECT_EQ(y, std::vector<float>(64, 7.0f));
  ops::MatMulBf16(nullptr, 2, 0, nullptr, 32, y.data(), &pool);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(y[i], 0.0f) << i;
}

// --- Dot ---------------------------------------------------------------------------------------

class DotTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(DotTest);

// |fast − ref| ≤ (n + 4)·u·Σ|a_i·b_i| + u·|ref|: each FMA rounds once and a term passes through at
// most n + 3 adds (lane chain, 4-accumulator merge, lane tree, tail); ref rounds once.
TEST_P(DotTest, MatchesReference) {
  std::mt19937 rng(3);
  for (int64_t n : kSizes) {
    const std::vector<float> a = RandomFloats(rng, n), b = RandomFloats(rng, n);
    double abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(a[i]) * b[i]);
    const double want = RefDot(a.data(), b.data(), n);
    EXPECT_LE(std::fabs(ops::Dot(a.data(), b.data(), n) - want),
              (n + 4) * kU * abs_sum + kU * std::fabs(want) + kTiny)
        << "n=" << n;
  }
}

TEST_P(DotTest, ExactOnSmallIntegers) {
  std::mt19937 rng(4);
  for (int64_t n : kSizes) {
    const std::vector<float> a = SmallIntFloats(rng, n), b = SmallIntFloats(rng, n);
    EXPECT_EQ(ops::Dot(a.data(), b.data(), n), RefDot(a.data(), b.data(), n)) << "n=" << n;
  }
  EXPECT_EQ(ops::Dot(nullptr, nullptr, 0), 0.0f);
}

// --- RmsNorm -----------------------------------------------------------------------------------

// |fast − ref| ≤ ((dim + 2)/2 + 16)·u·|ref|. The sum of squares has only positive terms, so its
// error is relative: ≤ (dim + 2)·u (ref's, in double, is negligible). 1/sqrt halves a relative
// error. Both sides then round the same float expression (÷dim, +eps, sqrt, 1/·, x·scale, w·):
// at most 6 roundings each, 12u, plus second-order slack.
void CheckRmsNorm(int64_t dim, float scale, bool in_place, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> x = RandomFloats(rng, dim, scale);
  const std::vector<uint16_t> w = RandomBf16(rng, dim, 1.0f);
  std::vector<float> fast = x, ref(dim);
  ops::RmsNorm(in_place ? fast.data() : x.data(), w.data(), dim, 1e-6f, fast.data());
  ref::RmsNorm(x.data(), w.data(), dim, 1e-6f, ref.data());
  for (int64_t i = 0; i < dim; ++i) {
    ASSERT_LE(std::fabs(fast[i] - ref[i]), ((dim + 2) / 2.0 + 16) * kU * std::fabs(ref[i]) + kTiny)
        << "dim=" << dim << " i=" << i;
  }
}

class RmsNormTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(RmsNormTest);

TEST_P(RmsNormTest, MatchesReference) {
  uint32_t seed = 10;
  for (int64_t dim : kSizes) {
    CheckRmsNorm(dim, 1.0f, false, seed++);
    CheckRmsNorm(dim, 100.0f, true, seed++);  // y aliasing x
    CheckRmsNorm(dim, 1e-3f, false, seed++);  // eps matters
  }
}

// --- Softmax -----------------------------------------------------------------------------------

// |fast − ref| ≤ (n + 12)·u·|ref| + tiny. Both compute the same x_i − max. exp: Highway's
// polynomial is within 1 ulp (≤ 2u relative), the reference's expf within 1 ulp too. The sum: f32
// with ≤ n + 2 roundings on positive terms (relative), ref's in double. Then 1/sum and the
// product round once each side. The tiny term covers subnormal results (exp below ~ -87).
void CheckSoftmax(std::vector<float> x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> fast = x, ref = x;
  ops::Softmax(fast.data(), n);
  ref::Softmax(ref.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_LE(std::fabs(fast[i] - ref[i]), (n + 12) * kU * std::fabs(ref[i]) + kTiny)
        << "n=" << n << " i=" << i << " x=" << x[i];
  }
}

class SoftmaxTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(SoftmaxTest);

TEST_P(SoftmaxTest, MatchesReference) {
  std::mt19937 rng(20);
  for (int64_t n : kSizes) {
    CheckSoftmax(RandomFloats(rng, n, 1.0f));
    CheckSoftmax(RandomFloats(rng, n, 30.0f));  // wide spread: many results underflow
  }
  CheckSoftmax(RandomFloats(rng, 32768, 5.0f));  // a long attention row
}

TEST_P(SoftmaxTest, MaskedEntriesAreZero) {
  std::mt19937 rng(21);
  for (int64_t n : kSizes) {
    std::vector<float> x = RandomFloats(rng, n, 3.0f);
    for (int64_t i = 1; i < n; i += 3) x[i] = -std::numeric_limits<float>::infinity();
    CheckSoftmax(x);
    std::vector<float> y = x;
    ops::Softmax(y.data(), n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (i % 3 == 1) {
        EXPECT_EQ(y[i], 0.0f);
      }
      sum += y[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

// --- SwiGlu ------------------------------------------------------------------------------------

// |fast − ref| ≤ 12·u·|ref| + tiny. e^-g: ≤ 2u relative each side (1 ulp); its effect on
// g/(1 + e^-g) is damped by e/(1 + e) ≤ 1. Then 1 + e, the division and the product round once
// each side: (2 + 3)u per side, 10u in all, plus slack.
void CheckSwiGlu(const std::vector<float>& gate, const std::vector<float>& up) {
  const int64_t n = static_cast<int64_t>(gate.size());
  std::vector<float> fast(n), ref(n);
  ops::SwiGlu(gate.data(), up.data(), n, fast.data());
  ref::SwiGlu(gate.data(), up.data(), n, ref.data());
  for (int64_t i = 0; i < n; ++i) {
    if (fast[i] == ref[i]) continue;  // also ±inf from ±inf gates
    ASSERT_LE(std::fabs(fast[i] - ref[i]), 12 * kU * std::fabs(ref[i]) + kTiny)
        << "n=" << n << " i=" << i << " gate=" << gate[i] << " up=" << up[i];
  }
  // In place (out aliasing gate).
  std::vector<float> inplace = gate;
  ops::SwiGlu(inplace.data(), up.data(), n, inplace.data());
  EXPECT_EQ(inplace, fast);
}

class SwiGluTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(SwiGluTest);

TEST_P(SwiGluTest, MatchesReference) {
  std::mt19937 rng(30);
  for (int64_t n : kSizes) CheckSwiGlu(RandomFloats(rng, n, 4.0f), RandomFloats(rng, n));
  // Every float in a dense sweep of the range where silu is interesting.
  std::vector<float> gate, up;
  for (float g = -30.0f; g <= 30.0f; g += 1.0f / 128) {
    gate.push_back(g);
    up.push_back(1.0f);
  }
  CheckSwiGlu(gate, up);
}

TEST_P(SwiGluTest, ExtremeGates) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> gate = {0.0f,   -0.0f,  1e-30f, -1e-30f, 80.0f,   -80.0f, 88.0f,
                                   -88.0f, 89.0f,  -89.0f, 100.0f,  -100.0f, 200.0f, -200.0f,
                                   1e30f,  -1e30f, 3e38f,  -3e38f,  inf};
  const std::vector<float> up(gate.size(), 1.5f);
  CheckSwiGlu(gate, up);
}

// --- RopeRotateHalf ----------------------------------------------------------------------------

class RopeRotateHalfTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(RopeRotateHalfTest);

// Per output, e.g. a·cos − b·sin with M = |a·cos| + |b·sin|: |fast − ref| ≤ 5u·M + tiny. The fast
// one rounds b·sin and then the fused a·cos − (b·sin): ≤ u·|b·sin| + u·M. The reference rounds
// both products and the difference: ≤ 2u·M. Together ≤ 4u·M to first order; 5u leaves slack.
TEST_P(RopeRotateHalfTest, MatchesReference) {
  std::mt19937 rng(40);
  for (int64_t head_dim : {2, 4, 14, 16, 34, 64, 128, 130, 256}) {
    const int64_t h = head_dim / 2;
    const std::vector<float> x = RandomFloats(rng, head_dim, 3.0f);
    std::vector<float> cos(h), sin(h);
    std::uniform_real_distribution<float> angle(-100.0f, 100.0f);
    for (int64_t j = 0; j < h; ++j) {
      const float t = angle(rng);
      cos[j] = std::cos(t);
      sin[j] = std::sin(t);
    }
    std::vector<float> fast = x, ref = x;
    ops::RopeRotateHalf(fast.data(), head_dim, cos.data(), sin.data());
    ref::RopeRotateHalf(ref.data(), head_dim, cos.data(), sin.data());
    for (int64_t j = 0; j < h; ++j) {
      const double mag = std::fabs(x[j] * cos[j]) + std::fabs(x[j + h] * sin[j]);
      const double mag_hi = std::fabs(x[j + h] * cos[j]) + std::fabs(x[j] * sin[j]);
      ASSERT_LE(std::fabs(fast[j] - ref[j]), 5 * kU * mag + kTiny) << head_dim << " " << j;
      ASSERT_LE(std::fabs(fast[j + h] - ref[j + h]), 5 * kU * mag_hi + kTiny)
          << head_dim << " " << j;
    }
  }
}

// --- Axpy --------------------------------------------------------------------------------------

class AxpyTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(AxpyTest);

// |fast − ref| ≤ 3u·(|alpha·src| + |dst|) + tiny: the fast one is one FMA (1 rounding of the
// exact result), the reference rounds the product and the sum (2).
TEST_P(AxpyTest, MatchesReference) {
  std::mt19937 rng(50);
  for (int64_t n : kSizes) {
    const std::vector<float> src = RandomFloats(rng, n), dst = RandomFloats(rng, n);
    for (float alpha : {0.0f, 1.0f, -0.37f, 1234.5f}) {
      std::vector<float> fast = dst, ref = dst;
      ops::Axpy(alpha, src.data(), n, fast.data());
      ref::Axpy(alpha, src.data(), n, ref.data());
      for (int64_t i = 0; i < n; ++i) {
        const double mag = std::fabs(static_cast<double>(alpha) * src[i]) + std::fabs(dst[i]);
        ASSERT_LE(std::fabs(fast[i] - ref[i]), 3 * kU * mag + kTiny) << "n=" << n << " i=" << i;
      }
    }
  }
}

}  // namespace
}  // namespace omnisage

// The vocoder kernels (ops/conv_ops.h) against their scalar references (ops/ref/conv_kernels.h),
// on every Highway target this CPU has, with explicit error bounds (notation of kernels_test.cc:
// u = 2^-24; a sum whose terms pass through at most d roundings is off by at most d·u·Σ|term|).
#include "ops/ref/conv_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "ops/conv_ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

constexpr double kU = 1.0 / (1 << 24);
constexpr double kTiny = 1e-37;

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

// --- Conv1d ------------------------------------------------------------------------------------

// Bound per output: (k·c_in + 5)·u·Σ|x·w| + u·(|ref| + |bias|). The fast one is a matmul over
// k·c_in terms (the MatMulBf16 bound, in + 4 roundings) plus one rounding for the bias; the
// reference sums in double and rounds once.
void CheckConv1d(int64_t t_out, int64_t c_in, int64_t c_out, int64_t k, int64_t dilation,
                 bool with_bias, ThreadPool* pool, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t t_in = t_out + (k - 1) * dilation;
  const std::vector<float> x = RandomFloats(rng, t_in * c_in);
  const std::vector<uint16_t> w = RandomBf16(rng, c_out * c_in * k);
  const std::vector<uint16_t> bias = RandomBf16(rng, c_out, 0.5f);
  const uint16_t* b = with_bias ? bias.data() : nullptr;
  std::vector<float> fast(t_out * c_out, std::nanf("")), want(t_out * c_out);
  const std::vector<uint16_t> packed = ops::PackConv1dWeight(w.data(), c_out, c_in, k);
  ops::Conv1d(x.data(), t_out, c_in, packed.data(), b, c_out, k, dilation, fast.data(), pool);
  ref::Conv1d(x.data(), t_out, c_in, w.data(), b, c_out, k, dilation, want.data());
  for (int64_t t = 0; t < t_out; ++t) {
    for (int64_t o = 0; o < c_out; ++o) {
      double abs_sum = 0;
      for (int64_t i = 0; i < c_in; ++i) {
        for (int64_t j = 0; j < k; ++j) {
          abs_sum += std::fabs(static_cast<double>(x[(t + j * dilation) * c_in + i]) *
                               Bf16ToFloat(w[(o * c_in + i) * k + j]));
        }
      }
      const double r = want[t * c_out + o];
      const double bias_mag = with_bias ? std::fabs(Bf16ToFloat(bias[o])) : 0.0;
      const double bound = (k * c_in + 5) * kU * abs_sum + kU * (std::fabs(r) + bias_mag) + kTiny;
      ASSERT_LE(std::fabs(fast[t * c_out + o] - r), bound)
          << "t_out=" << t_out << " c_in=" << c_in << " c_out=" << c_out << " k=" << k
          << " dilation=" << dilation << " t=" << t << " o=" << o;
    }
  }
}

class Conv1dTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(Conv1dTest);

TEST_P(Conv1dTest, MatchesReference) {
  uint32_t seed = 1;
  for (int64_t k : {1, 2, 7}) {
    for (int64_t dilation : {1, 3, 9}) {
      if (k == 1 && dilation > 1) continue;
      for (int64_t t_out : {1, 5, 40}) {
        CheckConv1d(t_out, 3, 5, k, dilation, /*with_bias=*/true, nullptr, seed++);
        CheckConv1d(t_out, 17, 16, k, dilation, /*with_bias=*/t_out % 2 == 0, nullptr, seed++);
      }
    }
  }
  CheckConv1d(7, 96, 1, 7, 1, true, nullptr, seed++);  // the vocoder's last layer: one channel
}

// Long signals are tiled (and the tiles split over the pool): same bound.
TEST_P(Conv1dTest, MatchesReferenceTiledAndPooled) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    CheckConv1d(300, 24, 20, 7, 3, true, &pool, 10 + threads);
    CheckConv1d(257, 48, 33, 1, 1, true, &pool, 20 + threads);
  }
}

TEST_P(Conv1dTest, ResultDoesNotDependOnThreadCount) {
  std::mt19937 rng(7);
  const int64_t t_out = 500, c_in = 16, c_out = 24, k = 7, d = 9;
  const std::vector<float> x = RandomFloats(rng, (t_out + (k - 1) * d) * c_in);
  const std::vector<uint16_t> w = RandomBf16(rng, c_out * k * c_in);
  std::vector<float> one(t_out * c_out), three(t_out * c_out);
  ops::Conv1d(x.data(), t_out, c_in, w.data(), nullptr, c_out, k, d, one.data(), nullptr);
  ThreadPool pool(3);
  ops::Conv1d(x.data(), t_out, c_in, w.data(), nullptr, c_out, k, d, three.data(), &pool);
  EXPECT_EQ(one, three);
}

// --- ConvTranspose1d ---------------------------------------------------------------------------

// Bound per output: (c_in + 4 + taps + 1)·u·Σ|x·w| + u·(|ref| + |bias|): each tap is a matmul
// output (c_in + 4 roundings), then up to `taps` = ⌈k / stride⌉ additions and the bias.
void CheckConvTranspose(int64_t t_in, int64_t c_in, int64_t c_out, int64_t k, int64_t stride,
                        ThreadPool* pool, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t t_out = (t_in - 1) * stride + k;
  const std::vector<float> x = RandomFloats(rng, t_in * c_in);
  const std::vector<uint16_t> w = RandomBf16(rng, c_in * c_out * k);
  const std::vector<uint16_t> bias = RandomBf16(rng, c_out, 0.5f);
  std::vector<float> fast(t_out * c_out, std::nanf("")), want(t_out * c_out);
  const std::vector<uint16_t> packed = ops::PackConvTranspose1dWeight(w.data(), c_in, c_out, k);
  ops::ConvTranspose1d(x.data(), t_in, c_in, packed.data(), bias.data(), c_out, k, stride,
                       fast.data(), pool);
  ref::ConvTranspose1d(x.data(), t_in, c_in, w.data(), bias.data(), c_out, k, stride, want.data());
  const int64_t taps = (k + stride - 1) / stride;
  for (int64_t p = 0; p < t_out; ++p) {
    for (int64_t o = 0; o < c_out; ++o) {
      double abs_sum = 0;
      for (int64_t t = 0; t < t_in; ++t) {
        const int64_t j = p - t * stride;
        if (j < 0 || j >= k) continue;
        for (int64_t i = 0; i < c_in; ++i) {
          abs_sum += std::fabs(static_cast<double>(x[t * c_in + i]) *
                               Bf16ToFloat(w[(i * c_out + o) * k + j]));
        }
      }
      const double r = want[p * c_out + o];
      const double bound = (c_in + 5 + taps) * kU * abs_sum +
                           kU * (std::fabs(r) + std::fabs(Bf16ToFloat(bias[o]))) + kTiny;
      ASSERT_LE(std::fabs(fast[p * c_out + o] - r), bound)
          << "t_in=" << t_in << " c_in=" << c_in << " c_out=" << c_out << " k=" << k
          << " stride=" << stride << " p=" << p << " o=" << o;
    }
  }
}

class ConvTranspose1dTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(ConvTranspose1dTest);

TEST_P(ConvTranspose1dTest, MatchesReference) {
  uint32_t seed = 1;
  // (k, stride): the vocoder's upsampling (k = stride) and its blocks (k = 2·stride), and a k
  // that is not a multiple of the stride.
  for (auto [k, stride] : {std::pair{2, 2}, {4, 2}, {16, 8}, {10, 5}, {6, 3}, {5, 2}, {3, 1}}) {
    for (int64_t t_in : {1, 2, 9}) CheckConvTranspose(t_in, 7, 5, k, stride, nullptr, seed++);
  }
}

TEST_P(ConvTranspose1dTest, MatchesReferenceTiledAndPooled) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    CheckConvTranspose(200, 24, 12, 16, 8, &pool, 30 + threads);
    CheckConvTranspose(77, 16, 16, 5, 2, &pool, 40 + threads);
  }
}

TEST_P(ConvTranspose1dTest, ResultDoesNotDependOnThreadCount) {
  std::mt19937 rng(9);
  const int64_t t_in = 300, c_in = 16, c_out = 8, k = 10, s = 5;
  const std::vector<float> x = RandomFloats(rng, t_in * c_in);
  const std::vector<uint16_t> w = RandomBf16(rng, k * c_out * c_in);
  const int64_t t_out = (t_in - 1) * s + k;
  std::vector<float> one(t_out * c_out), three(t_out * c_out);
  ops::ConvTranspose1d(x.data(), t_in, c_in, w.data(), nullptr, c_out, k, s, one.data(), nullptr);
  ThreadPool pool(3);
  ops::ConvTranspose1d(x.data(), t_in, c_in, w.data(), nullptr, c_out, k, s, three.data(), &pool);
  EXPECT_EQ(one, three);
}

// --- DepthwiseConv1d, SnakeBeta, LayerNorm, GELU ------------------------------------------------

// (k + 2)·u·Σ|x·w| + u·(|ref| + |bias|): k FMA-or-add roundings and the bias.
TEST(DepthwiseConv1dTest, MatchesReference) {
  std::mt19937 rng(3);
  for (int64_t c : {1, 7, 32}) {
    for (int64_t t_out : {1, 13}) {
      const int64_t k = 7;
      const std::vector<float> x = RandomFloats(rng, (t_out + k - 1) * c);
      const std::vector<uint16_t> w = RandomBf16(rng, c * k, 0.3f);
      const std::vector<uint16_t> bias = RandomBf16(rng, c, 0.5f);
      std::vector<float> fast(t_out * c), want(t_out * c);
      ops::DepthwiseConv1d(x.data(), t_out, c, w.data(), bias.data(), k, fast.data());
      ref::DepthwiseConv1d(x.data(), t_out, c, w.data(), bias.data(), k, want.data());
      for (int64_t t = 0; t < t_out; ++t) {
        for (int64_t ch = 0; ch < c; ++ch) {
          double abs_sum = 0;
          for (int64_t j = 0; j < k; ++j) {
            abs_sum +=
                std::fabs(static_cast<double>(x[(t + j) * c + ch]) * Bf16ToFloat(w[ch * k + j]));
          }
          const double r = want[t * c + ch];
          const double bound = (k + 2) * kU * abs_sum +
                               kU * (std::fabs(r) + std::fabs(Bf16ToFloat(bias[ch]))) + kTiny;
          ASSERT_LE(std::fabs(fast[t * c + ch] - r), bound) << "c=" << c << " t=" << t;
        }
      }
    }
  }
}

class SnakeBetaTest : public TargetTest {};
OMNI_INSTANTIATE_FOR_TARGETS(SnakeBetaTest);

// Bound: Highway's Sin is within 3 ulp (6u relative) of the exact sine of the same f32 argument
// (both sides compute x·alpha identically), std::sin within 1 ulp; squaring and scaling by
// inv_beta add 2u each, the final add u·|y|. So |Δ| ≤ 12u·inv_beta·s² + 2u·|y| + tiny, with s
// the sine, plus an absolute 1e-12 for sines that vanish.
TEST_P(SnakeBetaTest, MatchesReference) {
  std::mt19937 rng(5);
  for (int64_t c : {1, 3, 8, 17, 96}) {
    const int64_t t = 11;
    std::vector<float> x = RandomFloats(rng, t * c, 3.0f);
    x[0] = 50000.0f;  // outside Highway's range for Sin: the scalar path
    std::vector<float> alpha(c), inv_beta(c);
    std::normal_distribution<float> log_scale(0.0f, 0.5f);
    for (int64_t i = 0; i < c; ++i) {
      alpha[i] = std::exp(log_scale(rng));
      inv_beta[i] = 1.0f / (std::exp(log_scale(rng)) + 1e-9f);
    }
    std::vector<float> fast(t * c), want(t * c);
    ops::SnakeBeta(x.data(), t, c, alpha.data(), inv_beta.data(), fast.data());
    ref::SnakeBeta(x.data(), t, c, alpha.data(), inv_beta.data(), want.data());
    for (int64_t r = 0; r < t; ++r) {
      for (int64_t i = 0; i < c; ++i) {
        const double s = std::sin(static_cast<double>(x[r * c + i] * alpha[i]));
        const double bound =
            12 * kU * inv_beta[i] * s * s + 2 * kU * std::fabs(want[r * c + i]) + 1e-12;
        ASSERT_LE(std::fabs(fast[r * c + i] - want[r * c + i]), bound) << "c=" << c << " i=" << i;
      }
    }
    // In place gives the same values.
    std::vector<float> in_place = x;
    ops::SnakeBeta(in_place.data(), t, c, alpha.data(), inv_beta.data(), in_place.data());
    EXPECT_EQ(in_place, fast);
  }
}

// The references on hand-computed values.
TEST(ConvReferenceTest, KnownValues) {
  // Conv1d: 2 steps of 1 channel, k = 2, dilation 1: y[0] = 1·x0 + 2·x1 + bias.
  const float x[] = {1.0f, 2.0f, 3.0f};
  const uint16_t w[] = {FloatToBf16(1.0f), FloatToBf16(2.0f)};
  const uint16_t b[] = {FloatToBf16(0.5f)};
  float y[2];
  ref::Conv1d(x, 2, 1, w, b, 1, 2, 1, y);
  EXPECT_EQ(y[0], 5.5f);
  EXPECT_EQ(y[1], 8.5f);
  // ConvTranspose1d: x = [1, 2], k = 2, stride 2 → [1·w0, 1·w1, 2·w0, 2·w1] + bias.
  float z[4];
  ref::ConvTranspose1d(x, 2, 1, w, b, 1, 2, 2, z);
  EXPECT_EQ(z[0], 1.5f);
  EXPECT_EQ(z[1], 2.5f);
  EXPECT_EQ(z[2], 2.5f);
  EXPECT_EQ(z[3], 4.5f);
  // GELU(0) = 0, GELU(large) = x, GELU(−large) = 0.
  const float g_in[] = {0.0f, 10.0f, -10.0f};
  float g[3];
  ref::Gelu(g_in, 3, g);
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_FLOAT_EQ(g[1], 10.0f);
  EXPECT_NEAR(g[2], 0.0f, 1e-20);
  // LayerNorm of [1, 3] with weight 1, bias 0: [−1, 1] (up to eps).
  const float l_in[] = {1.0f, 3.0f};
  const uint16_t one[] = {FloatToBf16(1.0f), FloatToBf16(1.0f)};
  const uint16_t zero[] = {0, 0};
  float l[2];
  ref::LayerNorm(l_in, 2, one, zero, 1e-6f, l);
  EXPECT_NEAR(l[0], -1.0f, 1e-6);
  EXPECT_NEAR(l[1], 1.0f, 1e-6);
}

}  // namespace
}  // namespace omnisage

// Quantized weights (ops/quant.h) and their matmuls (ops::MatMulQuant) against the scalar
// references (ops/ref/quant_kernels.h), once per Highway target this CPU supports (the integer
// dot-product path exists on AVX3_DL, AVX-512 VNNI; on the other targets it must fall back to
// the dequantizing path bit for bit). Notation as in kernels_test.cc: u = 2^-24.
// The kernels compile Highway's AVX3_DL target (it holds the VNNI path); so must the list of
// targets the tests run on.
#define HWY_WANT_AVX3_DL 1

#include "ops/ref/quant_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

constexpr double kU = 1.0 / (1 << 24);

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

// One quantized matrix and its buffer.
struct Quantized {
  WeightFormat format;
  int64_t out, in, group;
  std::vector<uint8_t> buf;
  QuantMatrix view() const { return QuantMatrix::Of(format, out, in, group, buf.data()); }
};

Quantized Quantize(WeightFormat format, const std::vector<uint16_t>& w, int64_t out, int64_t in,
                   int64_t group, Int4Rounding rounding = Int4Rounding::kSearch) {
  Quantized q{format, out, in, group, {}};
  q.buf.resize(LayoutOf(format, out, in, group).total());
  QuantizeBf16(format, w.data(), out, in, group, q.buf.data(), rounding);
  return q;
}

struct Case {
  WeightFormat format;
  int64_t group;
  std::string name() const {
    return std::string(WeightFormatName(format)) + (group ? " g" + std::to_string(group) : "");
  }
};
const Case kCases[] = {{WeightFormat::kInt8, 0},
                       {WeightFormat::kInt4, 32},
                       {WeightFormat::kInt4, 64},
                       {WeightFormat::kInt4, 128}};

class TargetTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};
std::string TargetParamName(const ::testing::TestParamInfo<int64_t>& info) {
  return hwy::TargetName(info.param);
}

// --- formats ------------------------------------------------------------------------------------

// Min–max rounding (the search may clip a group's extremes for a lower total error; its bound is
// quant_int4_test.cc's).
TEST(QuantFormatTest, RoundTripErrorIsHalfAStep) {
  std::mt19937 rng(3);
  const int64_t out = 7, in = 256;
  std::vector<uint16_t> w = RandomBf16(rng, out * in);
  w[5] = FloatToBf16(0.0f);
  for (int64_t i = 0; i < in; ++i) w[2 * in + i] = 0;  // an all-zero row
  for (const Case& c : kCases) {
    const Quantized q = Quantize(c.format, w, out, in, c.group, Int4Rounding::kMinMax);
    const QuantMatrix m = q.view();
    std::vector<float> back(out * in);
    Dequantize(m, out, in, back.data());
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        const float step = c.format == WeightFormat::kInt8
                               ? m.scale[o]
                               : m.scale[o * (in / c.group) + i / c.group];
        ASSERT_LE(std::fabs(back[o * in + i] - Bf16ToFloat(w[o * in + i])), 0.5f * step * 1.0001f)
            << c.name() << " o=" << o << " i=" << i;
      }
    }
    if (c.format == WeightFormat::kInt8) {
      EXPECT_EQ(m.scale[2], 0.0f);
    }
  }
}

// The nibble order of ops/quant.h: byte j of a 32-block holds element j (low) and j + 16 (high).
TEST(QuantFormatTest, Int4NibbleOrder) {
  const int64_t in = 64;
  std::vector<uint16_t> w(in);
  // One group of 64 spanning [0, 15]: scale 1, zero 0, q = the value.
  for (int64_t i = 0; i < in; ++i) w[i] = FloatToBf16(static_cast<float>(i % 16));
  const Quantized q = Quantize(WeightFormat::kInt4, w, 1, in, 64);
  const QuantMatrix m = q.view();
  EXPECT_EQ(m.scale[0], 1.0f);
  EXPECT_EQ(m.zero[0], 0);
  const uint8_t* p = static_cast<const uint8_t*>(m.q);
  for (int64_t j = 0; j < 16; ++j) {
    EXPECT_EQ(p[j], (j % 16) | ((j + 16) % 16) << 4) << j;
    EXPECT_EQ(p[16 + j], ((32 + j) % 16) | ((48 + j) % 16) << 4) << j;
  }
  for (int64_t i = 0; i < in; ++i) EXPECT_EQ(Int4At(p, i), i % 16);
}

TEST(QuantFormatTest, ShapeErrorsNameTheTensor) {
  EXPECT_TRUE(CheckQuantShape(WeightFormat::kInt4, 4, 256, 128, "t").ok());
  const Status bad_group = CheckQuantShape(WeightFormat::kInt4, 4, 256, 48, "layers.0.up");
  EXPECT_FALSE(bad_group.ok());
  EXPECT_NE(bad_group.message().find("layers.0.up"), std::string::npos);
  EXPECT_NE(bad_group.message().find("48"), std::string::npos);
  const Status no_divide = CheckQuantShape(WeightFormat::kInt4, 4, 96, 64, "down");
  EXPECT_FALSE(no_divide.ok());
  EXPECT_NE(no_divide.message().find("does not divide"), std::string::npos);
  EXPECT_FALSE(CheckQuantShape(WeightFormat::kInt8, 4, 96, 64, "x").ok());
  EXPECT_EQ(ParseWeightFormat("int4"), WeightFormat::kInt4);
  EXPECT_EQ(ParseWeightFormat("int3"), std::nullopt);
}

TEST(QuantFormatTest, LayoutSizes) {
  // 768 x 2048, the real expert's gate: int8 1 B + 4 B per row; int4 g128 0.5 B + 5 B per group.
  EXPECT_EQ(LayoutOf(WeightFormat::kInt8, 768, 2048, 0).total(), 768u * 2048 + 768 * 4);
  EXPECT_EQ(LayoutOf(WeightFormat::kInt4, 768, 2048, 128).total(), 768u * 1024 + 768 * 16 * 5);
  EXPECT_EQ(LayoutOf(WeightFormat::kBf16, 768, 2048, 0).total(), 768u * 2048 * 2);
}

TEST(QuantFormatTest, ActivationQuantization) {
  std::vector<float> x(64, 0.0f);
  x[0] = 1.27f;
  x[1] = -0.635f;  // half the block's max: 63.5 -> 64 (ties to even)
  x[2] = 0.004f;   // 0.4 -> 0
  std::vector<int8_t> q(64);
  std::vector<float> s(2);
  QuantizeActivationsQ8(x.data(), 1, 64, q.data(), s.data());
  EXPECT_FLOAT_EQ(s[0], 0.01f);
  EXPECT_EQ(s[1], 0.0f);  // an all-zero block
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -64);
  EXPECT_EQ(q[2], 0);
  for (int i = 32; i < 64; ++i) EXPECT_EQ(q[i], 0);
}

// --- MatMulQuant, dequantizing path -------------------------------------------------------------

class MatMulQuantTest : public TargetTest {};
INSTANTIATE_TEST_SUITE_P(Targets, MatMulQuantTest,
                         ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), TargetParamName);

// |fast − ref| ≤ (in + 8)·u·Σ_i |x_i·w̃_i| + u·|ref|: every product of x and an exact small
// integer (q or q − zero) is exact before its FMA rounds; a term passes through at most in + 3
// adds, its group's scaling and the row's, where the reference rounds w̃ once and the sum once.
void CheckDequant(const Case& c, int64_t rows, int64_t in, int64_t out, ThreadPool* pool,
                  uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> x = RandomFloats(rng, rows * in);
  const Quantized q = Quantize(c.format, RandomBf16(rng, out * in), out, in, c.group);
  const QuantMatrix m = q.view();
  std::vector<float> fast(rows * out, std::nanf("")), ref(rows * out), wf(out * in);
  ops::MatMulQuant(x.data(), rows, in, m, out, fast.data(), pool, ops::QuantKernel::kDequant);
  ref::MatMulQuant(x.data(), rows, in, m, out, ref.data());
  Dequantize(m, out, in, wf.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double abs_sum = 0;
      for (int64_t i = 0; i < in; ++i) abs_sum += std::fabs(double{x[r * in + i]} * wf[o * in + i]);
      const double want = ref[r * out + o];
      ASSERT_LE(std::fabs(fast[r * out + o] - want), (in + 8) * kU * abs_sum + kU * std::fabs(want))
          << c.name() << " rows=" << rows << " in=" << in << " out=" << out << " r=" << r
          << " o=" << o;
    }
  }
}

TEST_P(MatMulQuantTest, DequantMatchesReference) {
  uint32_t seed = 1;
  for (const Case& c : kCases) {
    for (int64_t rows : {1, 2, 3, 4, 5, 9}) {
      for (int64_t in : {128, 256, 768, 2048}) {
        for (int64_t out : {1, 3, 17, 40}) CheckDequant(c, rows, in, out, nullptr, seed++);
      }
    }
  }
  // int8 rows of any length (the tail past whole vectors).
  for (int64_t in : {1, 7, 33, 129}) CheckDequant(kCases[0], 2, in, 5, nullptr, seed++);
}

TEST_P(MatMulQuantTest, DequantWithThreadPoolAndPrefill) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (const Case& c : kCases) {
      CheckDequant(c, 1, 2048, 768, &pool, 10 * threads);
      CheckDequant(c, 37, 768, 200, &pool, 11 * threads);
    }
  }
}

// Integers (scale 1, zero 8, small x): exact in any order, so fast equals ref bit for bit.
TEST_P(MatMulQuantTest, DequantExactOnSmallIntegers) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> small(-8, 8), nibble(0, 15);
  ThreadPool pool(2);
  for (const Case& c : kCases) {
    for (int64_t rows : {1, 4, 5}) {
      const int64_t in = 256, out = 65;
      std::vector<float> x(rows * in);
      for (float& v : x) v = static_cast<float>(small(rng));
      Quantized q{c.format, out, in, c.group, {}};
      const QuantLayout l = LayoutOf(c.format, out, in, c.group);
      q.buf.assign(l.total(), 0);
      for (uint64_t i = 0; i < l.q_bytes; ++i) {
        q.buf[l.q_offset + i] = c.format == WeightFormat::kInt8
                                    ? static_cast<uint8_t>(static_cast<int8_t>(small(rng)))
                                    : static_cast<uint8_t>(nibble(rng) | nibble(rng) << 4);
      }
      float* s = reinterpret_cast<float*>(q.buf.data() + l.scale_offset);
      for (uint64_t i = 0; i < l.scale_bytes / 4; ++i) s[i] = 1.0f;
      for (uint64_t i = 0; i < l.zero_bytes; ++i) q.buf[l.zero_offset + i] = 8;
      std::vector<float> fast(rows * out), ref(rows * out);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        ops::MatMulQuant(x.data(), rows, in, q.view(), out, fast.data(), p,
                         ops::QuantKernel::kDequant);
        ref::MatMulQuant(x.data(), rows, in, q.view(), out, ref.data());
        ASSERT_EQ(fast, ref) << c.name() << " rows=" << rows;
      }
    }
  }
}

// Each output row is summed the same way whatever computes it: alone or with other rows, on any
// number of threads; both paths.
TEST_P(MatMulQuantTest, ResultDoesNotDependOnSplit) {
  std::mt19937 rng(9);
  ThreadPool pool2(2), pool3(3);
  for (const Case& c : kCases) {
    for (ops::QuantKernel k : {ops::QuantKernel::kDequant, ops::QuantKernel::kInt8Dot}) {
      const int64_t rows = 6, in = 512, out = 1000;
      const std::vector<float> x = RandomFloats(rng, rows * in);
      const Quantized q = Quantize(c.format, RandomBf16(rng, out * in), out, in, c.group);
      std::vector<float> y1(rows * out), y2(rows * out), y3(rows * out), one(out);
      ops::MatMulQuant(x.data(), rows, in, q.view(), out, y1.data(), nullptr, k);
      ops::MatMulQuant(x.data(), rows, in, q.view(), out, y2.data(), &pool2, k);
      ops::MatMulQuant(x.data(), rows, in, q.view(), out, y3.data(), &pool3, k);
      EXPECT_EQ(y1, y2) << c.name();
      EXPECT_EQ(y1, y3) << c.name();
      for (int64_t r = 0; r < rows; ++r) {
        ops::MatMulQuant(x.data() + r * in, 1, in, q.view(), out, one.data(), &pool2, k);
        ASSERT_EQ(one, std::vector<float>(y1.begin() + r * out, y1.begin() + (r + 1) * out))
            << c.name() << " r=" << r;
      }
    }
  }
}

// --- MatMulQuant, integer dot products ----------------------------------------------------------

// Against ref::MatMulQuantQ8 where the CPU has int8 dot products: the integer sums are exact, so
// only the f32 scaling and summing differ, |fast − ref| ≤ (in / 16 + 8)·u·Σ_i |sx·qx_i·w̃_i| +
// u·|ref| (a block's term is rounded by its scale product, its FMA and ≤ in/128 + 5 adds). On
// other targets kInt8Dot falls back to the dequantizing path, bit for bit.
void CheckQ8(const Case& c, int64_t rows, int64_t in, int64_t out, ThreadPool* pool,
             uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> x = RandomFloats(rng, rows * in);
  const Quantized q = Quantize(c.format, RandomBf16(rng, out * in), out, in, c.group);
  const QuantMatrix m = q.view();
  std::vector<float> fast(rows * out, std::nanf("")), want(rows * out);
  ops::MatMulQuant(x.data(), rows, in, m, out, fast.data(), pool, ops::QuantKernel::kInt8Dot);
  if (!ops::HasInt8Dot() || in % 64 != 0) {
    ops::MatMulQuant(x.data(), rows, in, m, out, want.data(), pool, ops::QuantKernel::kDequant);
    ASSERT_EQ(fast, want) << c.name() << " in=" << in;
    return;
  }
  ref::MatMulQuantQ8(x.data(), rows, in, m, out, want.data());
  std::vector<int8_t> qx(rows * in);
  std::vector<float> sx(rows * in / kQ8Block), wf(out * in);
  QuantizeActivationsQ8(x.data(), rows, in, qx.data(), sx.data());
  Dequantize(m, out, in, wf.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double abs_sum = 0;
      for (int64_t i = 0; i < in; ++i) {
        abs_sum += std::fabs(double{sx[(r * in + i) / kQ8Block]} * qx[r * in + i] * wf[o * in + i]);
      }
      const double w = want[r * out + o];
      ASSERT_LE(std::fabs(fast[r * out + o] - w), (in / 16 + 8) * kU * abs_sum + kU * std::fabs(w))
          << c.name() << " rows=" << rows << " in=" << in << " r=" << r << " o=" << o;
    }
  }
}

TEST_P(MatMulQuantTest, Int8DotMatchesReference) {
  uint32_t seed = 500;
  ThreadPool pool(2);
  for (const Case& c : kCases) {
    for (int64_t rows : {1, 2, 3, 4, 5, 9}) {
      for (int64_t in : {128, 768, 2048}) CheckQ8(c, rows, in, 33, nullptr, seed++);
    }
    CheckQ8(c, 1, 2048, 768, &pool, seed++);
    CheckQ8(c, 37, 768, 200, &pool, seed++);
    // Rows that are not a multiple of 64 values take the dequantizing path.
    if (c.group <= 32) CheckQ8(c, 2, 96, 9, nullptr, seed++);
  }
}

// The integer path's accuracy against the exact product of the dequantized weights: activation
// quantization costs at most half a step (sx / 2) per value, so |q8 − ref| ≤ Σ_i sx_i/2 · |w̃_i|
// plus rounding.
TEST_P(MatMulQuantTest, Int8DotErrorIsActivationRounding) {
  std::mt19937 rng(77);
  const int64_t rows = 3, in = 2048, out = 64;
  const std::vector<float> x = RandomFloats(rng, rows * in);
  for (const Case& c : kCases) {
    const Quantized q = Quantize(c.format, RandomBf16(rng, out * in), out, in, c.group);
    std::vector<float> fast(rows * out), exact(rows * out), wf(out * in), sx(rows * in / 32);
    std::vector<int8_t> qx(rows * in);
    ops::MatMulQuant(x.data(), rows, in, q.view(), out, fast.data(), nullptr);
    ref::MatMulQuant(x.data(), rows, in, q.view(), out, exact.data());
    Dequantize(q.view(), out, in, wf.data());
    QuantizeActivationsQ8(x.data(), rows, in, qx.data(), sx.data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double bound = 0, abs_sum = 0;
        for (int64_t i = 0; i < in; ++i) {
          bound += 0.5 * sx[(r * in + i) / 32] * std::fabs(wf[o * in + i]);
          abs_sum += std::fabs(double{x[r * in + i]} * wf[o * in + i]);
        }
        ASSERT_LE(std::fabs(fast[r * out + o] - exact[r * out + o]),
                  bound * 1.001 + in * kU * 2 * abs_sum)
            << c.name();
      }
    }
  }
}

// The default dispatch uses the integer path where the CPU has VNNI.
TEST(QuantKernelTest, Int8DotWhereTheCpuHasVnni) {
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_EQ(ops::HasInt8Dot(), (hwy::SupportedTargets() & HWY_AVX3_DL) != 0);
}

TEST_P(MatMulQuantTest, Bf16FormatIsMatMulBf16) {
  std::mt19937 rng(4);
  const int64_t rows = 2, in = 100, out = 7;
  const std::vector<float> x = RandomFloats(rng, rows * in);
  const std::vector<uint16_t> w = RandomBf16(rng, out * in);
  QuantMatrix m;
  m.format = WeightFormat::kBf16;
  m.q = w.data();
  std::vector<float> a(rows * out), b(rows * out);
  ops::MatMulQuant(x.data(), rows, in, m, out, a.data(), nullptr);
  ops::MatMulBf16(x.data(), rows, in, w.data(), out, b.data(), nullptr);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace omnisage

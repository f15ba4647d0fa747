// The vision encoder's kernels against scalar references in double: VisionMatMul (f32 × bf16
// outer-product tiles) and the blocked attention of vision_attention.h, on shapes around their tile
// edges; and the bits they promise: the same result on any thread split and for a row computed
// alone or among others.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tensor/bf16.h"
#include "util/thread_pool.h"
#include "vision/vision_attention.h"
#include "vision/vision_matmul.h"

namespace omnisage {
namespace {

std::vector<float> Values(int64_t n, int seed) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.37 * static_cast<double>(i) + seed) * 1.5;
  return v;
}

TEST(VisionMatMulTest, MatchesTheReferenceOnTileEdges) {
  auto pool = ThreadPool::Create(2);
  ASSERT_TRUE(pool.ok());
  for (int64_t rows : {1, 5, 6, 7, 13}) {
    for (int64_t in : {1, 255, 256, 257, 600}) {
      for (int64_t out : {1, 31, 32, 33, 100}) {
        const std::vector<float> x = Values(rows * in, 1);
        const std::vector<float> wf = Values(out * in, 2);
        std::vector<uint16_t> w(wf.size());
        for (size_t i = 0; i < w.size(); ++i) w[i] = FloatToBf16(wf[i]);
        std::vector<float> y(rows * out), y2(rows * out);
        VisionMatMul(x.data(), rows, in, w.data(), out, y.data(), nullptr);
        VisionMatMul(x.data(), rows, in, w.data(), out, y2.data(), pool->get());
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> alone(out);
          VisionMatMul(x.data() + r * in, 1, in, w.data(), out, alone.data(), pool->get());
          for (int64_t o = 0; o < out; ++o) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < in; ++i) {
              const double p = double{x[r * in + i]} * Bf16ToFloat(w[o * in + i]);
              ref += p;
              mag += std::fabs(p);
            }
            const float got = y[r * out + o];
            // Sequential float32 sums: at most in · 2^-24 of the magnitude (a first-order bound).
            ASSERT_LE(std::fabs(got - ref), static_cast<double>(in) * 6e-8 * mag + 1e-30)
                << rows << "x" << in << "x" << out << " at " << r << "," << o;
            ASSERT_EQ(got, y2[r * out + o]) << "thread split changed the bits";
            ASSERT_EQ(got, alone[o]) << "a row alone gives other bits";
          }
        }
      }
    }
  }
}

TEST(VisionAttentionTest, MatchesTheReference) {
  for (int64_t m : {1, 24, 33, 140, 300}) {
    const int64_t hd = 72, heads = 2, h = hd * heads, stride = 3 * h;
    const std::vector<float> qkv = Values(m * stride, 3);
    const HeadAttentionSizes s = HeadAttentionSizes::For(m, hd);
    std::vector<float> kt(s.kt()), vp(s.vp(m)), scores(kAttentionBlock * s.m_pad),
        acc(kAttentionBlock * s.hd_pad), out(m * h);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int64_t i = 0; i < heads; ++i) {
      PackAttentionHead(qkv.data() + h + i * hd, qkv.data() + 2 * h + i * hd, stride, m, hd, s,
                        kt.data(), vp.data());
      for (int64_t t0 = 0; t0 < m; t0 += kAttentionBlock) {
        AttendPackedHead(qkv.data() + t0 * stride + i * hd, stride,
                         std::min(kAttentionBlock, m - t0), kt.data(), vp.data(), m, hd, s, scale,
                         scores.data(), acc.data(), out.data() + t0 * h + i * hd, h);
      }
      for (int64_t t = 0; t < m; ++t) {
        std::vector<double> p(m);
        double top = -1e300, sum = 0;
        for (int64_t j = 0; j < m; ++j) {
          double d = 0;
          for (int64_t k = 0; k < hd; ++k) {
            d += double{qkv[t * stride + i * hd + k]} * qkv[j * stride + h + i * hd + k];
          }
          p[j] = d * scale;
          top = std::max(top, p[j]);
        }
        for (double& v : p) sum += (v = std::exp(v - top));
        for (int64_t k = 0; k < hd; ++k) {
          double o = 0;
          for (int64_t j = 0; j < m; ++j) o += p[j] / sum * qkv[j * stride + 2 * h + i * hd + k];
          ASSERT_NEAR(out[t * h + i * hd + k], o, 2e-5) << "m " << m << " t " << t << " head " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace omnisage

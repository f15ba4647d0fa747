// The streaming-read kernels of ops_bench's MemoryRead, in their own file because Highway's
// foreach_target.h compiles the file once per SIMD target.
#include <algorithm>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "stream_read.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h re-includes this file once per target; what follows is compiled each time.
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace omnisage {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<uint64_t>;

// One sequential stream, four accumulators.
uint64_t SumOneStream(const uint64_t* p, int64_t begin, int64_t end) {
  const D d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  auto a = hn::Zero(d), b = hn::Zero(d), c = hn::Zero(d), e = hn::Zero(d);
  int64_t i = begin;
  for (; i + 4 * n <= end; i += 4 * n) {
    a = hn::Add(a, hn::LoadU(d, p + i));
    b = hn::Add(b, hn::LoadU(d, p + i + n));
    c = hn::Add(c, hn::LoadU(d, p + i + 2 * n));
    e = hn::Add(e, hn::LoadU(d, p + i + 3 * n));
  }
  uint64_t tail = 0;
  for (; i < end; ++i) tail += p[i];
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a, b), hn::Add(c, e)))) + tail;
}

// Four streams at once: each 4 MiB segment is cut in quarters read side by side -- the access
// pattern of MatMulBf16's GEMV, which on some cores (Zen 3) reads DRAM ~1.5x faster than a
// single stream.
uint64_t SumFourStreams(const uint64_t* p, int64_t begin, int64_t end) {
  constexpr int64_t kSegment = (4 << 20) / sizeof(uint64_t);
  const D d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  auto a = hn::Zero(d), b = hn::Zero(d), c = hn::Zero(d), e = hn::Zero(d);
  uint64_t tail = 0;
  for (int64_t s = begin; s < end; s += kSegment) {
    const int64_t seg_end = std::min(end, s + kSegment);
    const int64_t len = (seg_end - s) / 4 / n * n;
    const uint64_t* q = p + s;
    for (int64_t i = 0; i < len; i += n) {
      a = hn::Add(a, hn::LoadU(d, q + i));
      b = hn::Add(b, hn::LoadU(d, q + len + i));
      c = hn::Add(c, hn::LoadU(d, q + 2 * len + i));
      e = hn::Add(e, hn::LoadU(d, q + 3 * len + i));
    }
    for (int64_t i = s + 4 * len; i < seg_end; ++i) tail += p[i];
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a, b), hn::Add(c, e)))) + tail;
}

uint64_t SumRangeT(const uint64_t* p, int64_t begin, int64_t end, int streams) {
  return streams == 4 ? SumFourStreams(p, begin, end) : SumOneStream(p, begin, end);
}

}  // namespace HWY_NAMESPACE
}  // namespace omnisage
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace omnisage {

HWY_EXPORT(SumRangeT);

uint64_t SumRange(const uint64_t* p, int64_t begin, int64_t end, int streams) {
  return HWY_DYNAMIC_DISPATCH(SumRangeT)(p, begin, end, streams);
}

}  // namespace omnisage
#endif  // HWY_ONCE

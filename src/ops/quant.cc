#include "ops/quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {

std::string_view WeightFormatName(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBf16:
      return "bf16";
    case WeightFormat::kInt8:
      return "int8";
    case WeightFormat::kInt4:
      return "int4";
  }
  return "?";
}

std::optional<WeightFormat> ParseWeightFormat(std::string_view name) {
  for (WeightFormat f : {WeightFormat::kBf16, WeightFormat::kInt8, WeightFormat::kInt4}) {
    if (name == WeightFormatName(f)) return f;
  }
  return std::nullopt;
}

Status CheckQuantShape(WeightFormat format, int64_t out, int64_t in, int64_t group,
                       std::string_view what) {
  if (out < 0 || in < 0) {
    return InvalidArgument(fmt::format("{}: negative shape [{}, {}]", what, out, in));
  }
  if (format != WeightFormat::kInt4) {
    if (group != 0) {
      return InvalidArgument(fmt::format("{}: {} has no group size (found {})", what,
                                         WeightFormatName(format), group));
    }
    return Status::Ok();
  }
  if (std::find(std::begin(kInt4Groups), std::end(kInt4Groups), group) == std::end(kInt4Groups)) {
    return InvalidArgument(
        fmt::format("{}: int4 group size {} is not one of 32, 64, 128", what, group));
  }
  if (in % group != 0) {
    return InvalidArgument(
        fmt::format("{}: int4 group size {} does not divide the row of {} values (shape [{}, {}])",
                    what, group, in, out, in));
  }
  return Status::Ok();
}

QuantLayout LayoutOf(WeightFormat format, int64_t out, int64_t in, int64_t group) {
  QuantLayout l;
  const uint64_t n = static_cast<uint64_t>(out) * static_cast<uint64_t>(in);
  switch (format) {
    case WeightFormat::kBf16:
      l.q_bytes = 2 * n;
      l.scale_offset = l.zero_offset = l.q_bytes;
      break;
    case WeightFormat::kInt8:
      l.q_bytes = n;
      l.scale_offset = (l.q_bytes + 3) / 4 * 4;
      l.scale_bytes = 4 * static_cast<uint64_t>(out);
      l.zero_offset = l.scale_offset + l.scale_bytes;
      break;
    case WeightFormat::kInt4: {
      const uint64_t groups = static_cast<uint64_t>(out) * static_cast<uint64_t>(in / group);
      l.q_bytes = n / 2;
      l.scale_offset = (l.q_bytes + 3) / 4 * 4;
      l.scale_bytes = 4 * groups;
      l.zero_offset = l.scale_offset + l.scale_bytes;
      l.zero_bytes = groups;
      break;
    }
  }
  return l;
}

QuantMatrix QuantMatrix::Of(WeightFormat format, int64_t out, int64_t in, int64_t group,
                            const uint8_t* base) {
  const QuantLayout l = LayoutOf(format, out, in, group);
  QuantMatrix m;
  m.format = format;
  m.group = format == WeightFormat::kInt4 ? group : 0;
  m.q = base + l.q_offset;
  m.scale = reinterpret_cast<const float*>(base + l.scale_offset);
  m.zero = format == WeightFormat::kInt4 ? base + l.zero_offset : nullptr;
  return m;
}

namespace {

void QuantizeInt8Row(const float* w, int64_t in, int8_t* q, float* scale) {
  float amax = 0;
  for (int64_t i = 0; i < in; ++i) amax = std::max(amax, std::fabs(w[i]));
  const float s = amax / 127.0f;
  *scale = s;
  for (int64_t i = 0; i < in; ++i) {
    const float v = s > 0 ? std::nearbyint(w[i] / s) : 0.0f;
    q[i] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
  }
}

}  // namespace

void QuantizeBf16(WeightFormat format, const uint16_t* w, int64_t out, int64_t in, int64_t group,
                  uint8_t* dst, Int4Rounding rounding, ThreadPool* pool) {
  const QuantLayout l = LayoutOf(format, out, in, group);
  float* scales = reinterpret_cast<float*>(dst + l.scale_offset);
  auto rows = [&](int64_t begin, int64_t end) {
    std::vector<float> row(in);
    std::vector<uint8_t> nibbles(in);
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t i = 0; i < in; ++i) row[i] = Bf16ToFloat(w[o * in + i]);
      if (format == WeightFormat::kInt8) {
        QuantizeInt8Row(row.data(), in, reinterpret_cast<int8_t*>(dst + l.q_offset) + o * in,
                        &scales[o]);
        continue;
      }
      const int64_t groups = in / group;
      uint8_t* zeros = dst + l.zero_offset;
      for (int64_t g = 0; g < groups; ++g) {
        QuantizeInt4Group(row.data() + g * group, group, rounding, nibbles.data() + g * group,
                          &scales[o * groups + g], &zeros[o * groups + g]);
      }
      uint8_t* packed = dst + l.q_offset + o * (in / 2);
      for (int64_t b = 0; b < in / kInt4Block; ++b) {
        const uint8_t* v = nibbles.data() + b * kInt4Block;
        for (int64_t j = 0; j < kInt4Block / 2; ++j) {
          packed[b * (kInt4Block / 2) + j] =
              static_cast<uint8_t>(v[j] | (v[j + kInt4Block / 2] << 4));
        }
      }
    }
  };
  if (pool == nullptr) {
    rows(0, out);
  } else {
    pool->ParallelFor(out, rows);
  }
}

void Dequantize(const QuantMatrix& m, int64_t out, int64_t in, float* w) {
  for (int64_t o = 0; o < out; ++o) {
    if (m.format == WeightFormat::kInt8) {
      const int8_t* q = static_cast<const int8_t*>(m.q) + o * in;
      for (int64_t i = 0; i < in; ++i) w[o * in + i] = m.scale[o] * q[i];
      continue;
    }
    if (m.format == WeightFormat::kBf16) {
      const uint16_t* q = static_cast<const uint16_t*>(m.q) + o * in;
      for (int64_t i = 0; i < in; ++i) w[o * in + i] = Bf16ToFloat(q[i]);
      continue;
    }
    const int64_t groups = in / m.group;
    const uint8_t* row = static_cast<const uint8_t*>(m.q) + o * (in / 2);
    for (int64_t i = 0; i < in; ++i) {
      const int64_t g = o * groups + i / m.group;
      w[o * in + i] = m.scale[g] * static_cast<float>(int{Int4At(row, i)} - int{m.zero[g]});
    }
  }
}

void QuantizeActivationsQ8(const float* x, int64_t rows, int64_t in, int8_t* q, float* scale) {
  const int64_t blocks = in / kQ8Block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const float* v = x + r * in + b * kQ8Block;
      int8_t* qb = q + r * in + b * kQ8Block;
      float amax = 0;
      for (int64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(v[i]));
      const float s = amax / 127.0f;
      const float inv = s > 0 ? 1.0f / s : 0.0f;
      scale[r * blocks + b] = s;
      for (int64_t i = 0; i < kQ8Block; ++i) {
        qb[i] = static_cast<int8_t>(std::clamp(std::nearbyint(v[i] * inv), -127.0f, 127.0f));
      }
    }
  }
}

}  // namespace omnisage

// Quantized weight formats: how an [out, in] weight matrix is held in int8 or int4, how a bf16
// matrix is quantized into them, and how many bytes each takes. The kernels that multiply them
// (ops::MatMulQuant) are in ops.h; their scalar references in ref/quant_kernels.h.
//
// kInt8 (per-row symmetric):   w[o, i] ≈ scale[o] · q[o, i]
//   q      int8  [out, in]      row-major
//   scale  f32   [out]          max |w[o, :]| / 127 (0 for an all-zero row)
//
// kInt4 (group-wise asymmetric, the AWQ/GPTQ family):   w[o, i] ≈ scale[o, g] · (q[o, i] − zero[o,
// g])
//   with g = i / group, group ∈ {32, 64, 128} dividing `in`.
//   q      u8    [out, in / 2]  two 4-bit values per byte, in blocks of 32 elements (16 bytes):
//                               byte j of a block holds element j in its low nibble and element
//                               j + 16 in its high nibble (the order of GGML's Q4_0 blocks), so
//                               the low nibbles of a block are its first 16 elements in order
//   scale  f32   [out, in / group]   (max − min) / 15 of the group (at least 1e-5 / 15)
//   zero   u8    [out, in / group]   in [0, 15]
//   How scale, zero and q are chosen for a group is the Int4Rounding below; the layout is the
//   same for both, so every reader and kernel takes either.
//
// One matrix is one contiguous buffer, [q | scale | zero] in that order, each part starting at the
// offset QuantLayout gives (scales 4-byte aligned when the buffer is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace omnisage {

class ThreadPool;

enum class WeightFormat : uint8_t { kBf16, kInt8, kInt4 };

// "bf16", "int8", "int4"; ParseWeightFormat is the inverse (nullopt for anything else).
std::string_view WeightFormatName(WeightFormat f);
std::optional<WeightFormat> ParseWeightFormat(std::string_view name);

// The int4 group sizes the kernels support.
inline constexpr int64_t kInt4Groups[] = {32, 64, 128};
// Elements per int4 block (the nibble order above): every group is a whole number of blocks.
inline constexpr int64_t kInt4Block = 32;

// Checks that `format` can hold an [out, in] matrix with this group size (int4: group is one of
// kInt4Groups and divides in; int8/bf16: group is 0). `what` names the tensor in the message.
Status CheckQuantShape(WeightFormat format, int64_t out, int64_t in, int64_t group,
                       std::string_view what);

// Where the parts of one quantized [out, in] matrix lie in its buffer, in bytes.
struct QuantLayout {
  uint64_t q_offset = 0, q_bytes = 0;
  uint64_t scale_offset = 0, scale_bytes = 0;
  uint64_t zero_offset = 0, zero_bytes = 0;
  uint64_t total() const { return zero_offset + zero_bytes; }
};
// REQUIRES: CheckQuantShape(format, out, in, group) is ok. bf16: q is the whole matrix.
QuantLayout LayoutOf(WeightFormat format, int64_t out, int64_t in, int64_t group);

// A read-only view of one quantized matrix (pointers into its buffer).
struct QuantMatrix {
  WeightFormat format = WeightFormat::kInt8;
  int64_t group = 0;              // int4 only
  const void* q = nullptr;        // int8: int8_t[out * in]; int4: uint8_t[out * in / 2]
  const float* scale = nullptr;   // int8: [out]; int4: [out, in / group]
  const uint8_t* zero = nullptr;  // int4: [out, in / group]; null for int8

  // The view of a buffer laid out as LayoutOf says.
  static QuantMatrix Of(WeightFormat format, int64_t out, int64_t in, int64_t group,
                        const uint8_t* base);
};

// How each int4 group's scale, zero point and values are chosen from its n values w:
//   kMinMax  AutoAWQ's pseudo-quantizer: scale = (max − min) / 15 (at least 1e-5 / 15),
//            zero = round(−min / scale) clamped to [0, 15], q = clamp(round(w / scale) + zero,
//            0, 15).
//   kSearch  the grid {scale · (k − zero)} always holds 0, so candidates span [min(min, 0),
//            max(max, 0)]: scale s = span / (15 + δ) for δ in [−1, 1] in steps of 0.5 (a smaller
//            step clips the extremes, a larger one leaves room), each with the zero point that
//            anchors the low end and the one that anchors the high end, and min–max's own (s,
//            zero). For each, q = clamp(round(w / s) + zero, 0, 15) and the scale that fits those
//            q best by weighted least squares, Σ c w (q − zero) / Σ c (q − zero)² with
//            c = |w| + rms of the group (llama.cpp's K-quant weighting without an importance
//            matrix); then up to three rounds re-rounding with the best fitted scale and zero
//            and zero ± 1. The candidate of least weighted error is kept only if its plain
//            squared error, Σ (w − scale (q − zero))² with the values as Dequantize gives them
//            back, is below min–max's; otherwise the group is min–max's. So no group is ever
//            worse than min–max, and an exact group stays as min–max writes it. Deterministic:
//            the same values give the same bytes.
enum class Int4Rounding : uint8_t { kMinMax, kSearch };

// "minmax", "search"; ParseInt4Rounding is the inverse (nullopt for anything else).
std::string_view Int4RoundingName(Int4Rounding r);
std::optional<Int4Rounding> ParseInt4Rounding(std::string_view name);

// One int4 group of n values (n a multiple of 8): its 4-bit values q[n] (one per byte, unpacked),
// scale and zero point, chosen as `rounding` says. REQUIRES: w finite.
void QuantizeInt4Group(const float* w, int64_t n, Int4Rounding rounding, uint8_t* q, float* scale,
                       uint8_t* zero);

// Quantizes bf16 `w` [out, in] into `dst` (LayoutOf(...).total() bytes) as the format says
// (int4: each group as `rounding` says; int8 ignores it). Rows are split over `pool` when given;
// each row is quantized alone, so the bytes are the same whatever the split.
// REQUIRES: CheckQuantShape ok; format is kInt8 or kInt4; w finite.
void QuantizeBf16(WeightFormat format, const uint16_t* w, int64_t out, int64_t in, int64_t group,
                  uint8_t* dst, Int4Rounding rounding = Int4Rounding::kSearch,
                  ThreadPool* pool = nullptr);

// w[o, i] as the format holds it, in f32 (the dequantized matrix, [out, in]).
void Dequantize(const QuantMatrix& m, int64_t out, int64_t in, float* w);

// The 4-bit value of element i of a row of packed int4 (the nibble order above).
inline uint8_t Int4At(const uint8_t* row, int64_t i) {
  const int64_t block = i / kInt4Block, j = i % kInt4Block;
  const uint8_t byte = row[block * (kInt4Block / 2) + j % (kInt4Block / 2)];
  return j < kInt4Block / 2 ? (byte & 0x0f) : (byte >> 4);
}

// The tensors of a quantized matrix stored under `name` (its `.weight`): the values under `name`
// itself, the scales under name + "_scale", int4's zero points under name + "_zero_point".
inline std::string QuantScaleName(const std::string& name) { return name + "_scale"; }
inline std::string QuantZeroName(const std::string& name) { return name + "_zero_point"; }

// Activations quantized to int8 for the integer-dot-product kernels: per block of kQ8Block
// values of a row, scale = max |x| / 127 and q = round(x / scale) (ties to even; 0 when the block
// is all zero). One definition shared by the fast kernel and its reference, so both see the same
// integers. x: [rows, in], in a multiple of kQ8Block; q: [rows, in]; scale: [rows, in / kQ8Block].
inline constexpr int64_t kQ8Block = 32;
void QuantizeActivationsQ8(const float* x, int64_t rows, int64_t in, int8_t* q, float* scale);

}  // namespace omnisage

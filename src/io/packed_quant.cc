#include "io/packed_quant.h"

#include <fmt/format.h>

#include <cstring>
#include <optional>

#include "tensor/bf16.h"
#include "tensor/f16.h"

namespace omnisage {
namespace {

std::string Where(const WeightSource& s, const WeightEntry& e) { return s.files()[e.file]; }

// The tensor `name` of module `module`, of one of `dtypes`, with `shape` when given.
StatusOr<const WeightEntry*> Need(const WeightSource& source, const std::string& name,
                                  std::initializer_list<DType> dtypes,
                                  std::optional<std::vector<int64_t>> shape,
                                  const std::string& why) {
  const WeightEntry* e = source.Find(name);
  if (e == nullptr) {
    return InvalidArgument(
        fmt::format("{}: tensor '{}' is missing ({})", source.path(), name, why));
  }
  bool dtype_ok = false;
  std::string names;
  for (DType d : dtypes) {
    dtype_ok |= e->dtype == d;
    names += (names.empty() ? "" : " or ") + std::string(DTypeName(d));
  }
  if (!dtype_ok) {
    return InvalidArgument(fmt::format("{}: tensor '{}' is {}, expected {} ({})", Where(source, *e),
                                       name, DTypeName(e->dtype), names, why));
  }
  if (shape && e->shape != *shape) {
    return InvalidArgument(fmt::format("{}: tensor '{}' has shape {} but {} needs {}",
                                       Where(source, *e), name, ShapeString(e->shape), why,
                                       ShapeString(*shape)));
  }
  return e;
}

StatusOr<std::vector<uint32_t>> ReadWords(const WeightSource& source, const WeightEntry& e) {
  std::vector<uint32_t> out(e.numel);
  OMNI_RETURN_IF_ERROR(source.Read(e, 0, e.nbytes, out.data()));
  return out;
}

StatusOr<std::vector<int64_t>> ReadInts(const WeightSource& source, const WeightEntry& e) {
  std::vector<int64_t> out(e.numel);
  if (e.dtype == DType::kI64) {
    OMNI_RETURN_IF_ERROR(source.Read(e, 0, e.nbytes, out.data()));
    return out;
  }
  std::vector<int32_t> v(e.numel);
  OMNI_RETURN_IF_ERROR(source.Read(e, 0, e.nbytes, v.data()));
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

StatusOr<std::vector<float>> ReadFloats(const WeightSource& source, const WeightEntry& e) {
  std::vector<float> out(e.numel);
  if (e.dtype == DType::kF32) {
    OMNI_RETURN_IF_ERROR(source.Read(e, 0, e.nbytes, out.data()));
    return out;
  }
  std::vector<uint16_t> h(e.numel);
  OMNI_RETURN_IF_ERROR(source.Read(e, 0, e.nbytes, h.data()));
  for (size_t i = 0; i < h.size(); ++i) {
    out[i] = e.dtype == DType::kBF16 ? Bf16ToFloat(h[i]) : F16ToFloat(h[i]);
  }
  return out;
}

// Value k (of `bits` bits) of a little-endian bit stream of 32-bit words.
inline uint32_t Field(const uint32_t* words, int64_t k, int bits) {
  const int64_t bit = k * bits;
  return (words[bit / 32] >> (bit % 32)) & ((1u << bits) - 1);
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Status CheckBits(int bits, const std::string& module) {
  if (bits == 4 || bits == 8) return Status::Ok();
  return InvalidArgument(
      fmt::format("module '{}': {}-bit weights are not read (4 or 8)", module, bits));
}

// The group size of a row of `in` inputs; errors when it does not divide the row.
StatusOr<int64_t> GroupOf(const QuantScheme& s, int64_t in, const std::string& where) {
  const int64_t group = s.group_size > 0 ? s.group_size : in;
  if (group <= 0 || in % group != 0) {
    return InvalidArgument(fmt::format("{}: the group size {} does not divide the row of {} inputs",
                                       where, group, in));
  }
  return group;
}

// Reads an optional g_idx [in] and keeps it only when it is not input / group.
Status ReadGIdx(const WeightSource& source, const std::string& name, bool required,
                UnpackedWeight* w) {
  const WeightEntry* e = source.Find(name);
  if (e == nullptr) {
    if (!required) return Status::Ok();
    return InvalidArgument(
        fmt::format("{}: tensor '{}' is missing (the config quantizes in activation order)",
                    source.path(), name));
  }
  OMNI_ASSIGN_OR_RETURN(e, Need(source, name, {DType::kI32, DType::kI64},
                                std::vector<int64_t>{w->in}, "a g_idx of one group per input"));
  OMNI_ASSIGN_OR_RETURN(const std::vector<int64_t> g, ReadInts(source, *e));
  w->g_idx.resize(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] < 0 || g[i] >= w->groups()) {
      return InvalidArgument(
          fmt::format("{}: tensor '{}': input {} is in group {}, but there are {}",
                      Where(source, *e), name, i, g[i], w->groups()));
    }
    w->g_idx[i] = static_cast<int32_t>(g[i]);
  }
  if (w->ContiguousGroups()) w->g_idx.clear();
  return Status::Ok();
}

}  // namespace

bool UnpackedWeight::ContiguousGroups() const {
  for (size_t i = 0; i < g_idx.size(); ++i) {
    if (g_idx[i] != static_cast<int64_t>(i) / group) return false;
  }
  return true;
}

std::vector<float> Dequantize(const UnpackedWeight& w) {
  std::vector<float> out(static_cast<size_t>(w.out * w.in));
  const int64_t groups = w.groups();
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t i = 0; i < w.in; ++i) {
      const int64_t g = o * groups + w.GroupOf(i);
      out[o * w.in + i] =
          w.scale[g] * static_cast<float>(static_cast<int32_t>(w.q[o * w.in + i]) - w.zero[g]);
    }
  }
  return out;
}

StatusOr<UnpackedWeight> UnpackCompressedTensors(const WeightSource& source,
                                                 const std::string& module,
                                                 const QuantScheme& scheme) {
  OMNI_RETURN_IF_ERROR(CheckBits(scheme.bits, module));
  UnpackedWeight w;
  w.bits = scheme.bits;
  const std::string shape_name = module + ".weight_shape";
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* shape_e,
                        Need(source, shape_name, {DType::kI64, DType::kI32},
                             std::vector<int64_t>{2}, "the [out, in] of a packed weight"));
  OMNI_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, ReadInts(source, *shape_e));
  if (shape[0] <= 0 || shape[1] <= 0 || shape[0] > (int64_t{1} << 24) ||
      shape[1] > (int64_t{1} << 24)) {
    return InvalidArgument(fmt::format("{}: tensor '{}' = {}: not a weight shape",
                                       Where(source, *shape_e), shape_name, ShapeString(shape)));
  }
  w.out = shape[0];
  w.in = shape[1];
  const std::string why = fmt::format("a {}-bit [{}, {}] layer", w.bits, w.out, w.in);
  OMNI_ASSIGN_OR_RETURN(w.group, GroupOf(scheme, w.in, "module '" + module + "'"));
  const int64_t groups = w.groups();
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* packed_e,
                        Need(source, module + ".weight_packed", {DType::kI32},
                             std::vector<int64_t>{w.out, CeilDiv(w.in * w.bits, 32)}, why));
  OMNI_ASSIGN_OR_RETURN(
      const WeightEntry* scale_e,
      Need(source, module + ".weight_scale", {DType::kBF16, DType::kF16, DType::kF32},
           std::vector<int64_t>{w.out, groups}, why + fmt::format(" in {} groups", groups)));
  OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> packed, ReadWords(source, *packed_e));
  OMNI_ASSIGN_OR_RETURN(w.scale, ReadFloats(source, *scale_e));
  const int64_t words = packed_e->shape[1];
  w.q.resize(static_cast<size_t>(w.out * w.in));
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t i = 0; i < w.in; ++i) {
      w.q[o * w.in + i] = static_cast<uint8_t>(Field(packed.data() + o * words, i, w.bits));
    }
  }
  const int32_t offset = 1 << (w.bits - 1);
  if (scheme.symmetric) {
    w.zero.assign(static_cast<size_t>(w.out * groups), offset);
  } else {
    // Packed along the output dimension: column g holds the zero of every output row.
    OMNI_ASSIGN_OR_RETURN(const WeightEntry* zero_e,
                          Need(source, module + ".weight_zero_point", {DType::kI32},
                               std::vector<int64_t>{CeilDiv(w.out * w.bits, 32), groups},
                               why + fmt::format(" with zero points in {} groups", groups)));
    OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> zp, ReadWords(source, *zero_e));
    w.zero.resize(static_cast<size_t>(w.out * groups));
    for (int64_t o = 0; o < w.out; ++o) {
      const int64_t bit = o * w.bits;
      for (int64_t g = 0; g < groups; ++g) {
        w.zero[o * groups + g] = static_cast<int32_t>((zp[(bit / 32) * groups + g] >> (bit % 32)) &
                                                      ((1u << w.bits) - 1));
      }
    }
  }
  if (scheme.act_order) {
    OMNI_RETURN_IF_ERROR(ReadGIdx(source, module + ".weight_g_idx", true, &w));
  }
  return w;
}

StatusOr<UnpackedWeight> UnpackAwq(const WeightSource& source, const std::string& module,
                                   const QuantScheme& scheme) {
  if (scheme.bits != 4) {
    return InvalidArgument(fmt::format("module '{}': AWQ packs 4-bit weights", module));
  }
  // AutoAWQ's GEMM order: nibble j of a word holds output 8c + kOrder[j].
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  int kNibble[8];
  for (int j = 0; j < 8; ++j) kNibble[kOrder[j]] = j;
  OMNI_ASSIGN_OR_RETURN(
      const WeightEntry* qweight_e,
      Need(source, module + ".qweight", {DType::kI32}, std::nullopt, "an AWQ layer"));
  if (qweight_e->shape.size() != 2 || qweight_e->shape[0] <= 0 || qweight_e->shape[1] <= 0) {
    return InvalidArgument(fmt::format("{}: tensor '{}.qweight' has shape {}, not [in, out/8]",
                                       Where(source, *qweight_e), module,
                                       ShapeString(qweight_e->shape)));
  }
  UnpackedWeight w;
  w.bits = 4;
  w.in = qweight_e->shape[0];
  w.out = qweight_e->shape[1] * 8;
  OMNI_ASSIGN_OR_RETURN(w.group, GroupOf(scheme, w.in, "module '" + module + "'"));
  const int64_t groups = w.groups();
  const std::string why = fmt::format("an AWQ [{}, {}] layer in {} groups", w.out, w.in, groups);
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* scales_e,
                        Need(source, module + ".scales", {DType::kF16, DType::kBF16, DType::kF32},
                             std::vector<int64_t>{groups, w.out}, why));
  OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> qweight, ReadWords(source, *qweight_e));
  OMNI_ASSIGN_OR_RETURN(const std::vector<float> scales, ReadFloats(source, *scales_e));
  const int64_t words = w.out / 8;
  w.q.resize(static_cast<size_t>(w.out * w.in));
  for (int64_t i = 0; i < w.in; ++i) {
    for (int64_t o = 0; o < w.out; ++o) {
      const uint32_t word = qweight[i * words + o / 8];
      w.q[o * w.in + i] = static_cast<uint8_t>((word >> (4 * kNibble[o % 8])) & 15);
    }
  }
  w.scale.resize(static_cast<size_t>(w.out * groups));
  w.zero.assign(static_cast<size_t>(w.out * groups), 8);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t o = 0; o < w.out; ++o) w.scale[o * groups + g] = scales[g * w.out + o];
  }
  if (!scheme.symmetric || source.Find(module + ".qzeros") != nullptr) {
    OMNI_ASSIGN_OR_RETURN(
        const WeightEntry* zeros_e,
        Need(source, module + ".qzeros", {DType::kI32}, std::vector<int64_t>{groups, words}, why));
    OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> qzeros, ReadWords(source, *zeros_e));
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t o = 0; o < w.out; ++o) {
        w.zero[o * groups + g] =
            static_cast<int32_t>((qzeros[g * words + o / 8] >> (4 * kNibble[o % 8])) & 15);
      }
    }
  }
  return w;
}

StatusOr<UnpackedWeight> UnpackGptq(const WeightSource& source, const std::string& module,
                                    const QuantScheme& scheme, bool gptq_v1) {
  OMNI_RETURN_IF_ERROR(CheckBits(scheme.bits, module));
  const int bits = scheme.bits;
  const int64_t pack = 32 / bits;
  OMNI_ASSIGN_OR_RETURN(
      const WeightEntry* qweight_e,
      Need(source, module + ".qweight", {DType::kI32}, std::nullopt, "a GPTQ layer"));
  if (qweight_e->shape.size() != 2 || qweight_e->shape[0] <= 0 || qweight_e->shape[1] <= 0) {
    return InvalidArgument(fmt::format("{}: tensor '{}.qweight' has shape {}, not [in/{}, out]",
                                       Where(source, *qweight_e), module,
                                       ShapeString(qweight_e->shape), pack));
  }
  UnpackedWeight w;
  w.bits = bits;
  w.in = qweight_e->shape[0] * pack;
  w.out = qweight_e->shape[1];
  if (w.out % pack != 0) {
    return InvalidArgument(
        fmt::format("{}: tensor '{}.qweight': {} outputs cannot be packed {} "
                    "to a word in qzeros",
                    Where(source, *qweight_e), module, w.out, pack));
  }
  OMNI_ASSIGN_OR_RETURN(w.group, GroupOf(scheme, w.in, "module '" + module + "'"));
  const int64_t groups = w.groups();
  const std::string why =
      fmt::format("a {}-bit GPTQ [{}, {}] layer in {} groups", bits, w.out, w.in, groups);
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* scales_e,
                        Need(source, module + ".scales", {DType::kF16, DType::kBF16, DType::kF32},
                             std::vector<int64_t>{groups, w.out}, why));
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* zeros_e,
                        Need(source, module + ".qzeros", {DType::kI32},
                             std::vector<int64_t>{groups, w.out / pack}, why));
  OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> qweight, ReadWords(source, *qweight_e));
  OMNI_ASSIGN_OR_RETURN(const std::vector<uint32_t> qzeros, ReadWords(source, *zeros_e));
  OMNI_ASSIGN_OR_RETURN(const std::vector<float> scales, ReadFloats(source, *scales_e));
  const uint32_t mask = (1u << bits) - 1;
  w.q.resize(static_cast<size_t>(w.out * w.in));
  for (int64_t i = 0; i < w.in; ++i) {
    const uint32_t* row = qweight.data() + (i / pack) * w.out;
    const int shift = static_cast<int>((i % pack) * bits);
    for (int64_t o = 0; o < w.out; ++o) {
      w.q[o * w.in + i] = static_cast<uint8_t>((row[o] >> shift) & mask);
    }
  }
  w.scale.resize(static_cast<size_t>(w.out * groups));
  w.zero.resize(static_cast<size_t>(w.out * groups));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t o = 0; o < w.out; ++o) {
      w.scale[o * groups + g] = scales[g * w.out + o];
      const uint32_t z = (qzeros[g * (w.out / pack) + o / pack] >> ((o % pack) * bits)) & mask;
      // v1: stored minus one, read back as AutoGPTQ's kernels do, (stored + 1) mod 2^bits.
      w.zero[o * groups + g] = static_cast<int32_t>(gptq_v1 ? (z + 1) & mask : z);
    }
  }
  OMNI_RETURN_IF_ERROR(ReadGIdx(source, module + ".g_idx", scheme.act_order, &w));
  return w;
}

StatusOr<UnpackedWeight> UnpackModule(const WeightSource& source, const QuantConfig& config,
                                      const std::string& module, const QuantScheme& scheme) {
  switch (config.method) {
    case QuantMethod::kCompressedTensors:
      return UnpackCompressedTensors(source, module, scheme);
    case QuantMethod::kAwq:
      return UnpackAwq(source, module, scheme);
    case QuantMethod::kGptq:
      return UnpackGptq(source, module, scheme, config.format == "gptq");
  }
  return Internal("UnpackModule: unknown method");
}

}  // namespace omnisage

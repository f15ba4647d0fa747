#include "model/weights.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace omnisage {

namespace {

// Tensor `t` has exactly `shape`; the error names its file and what the config implies.
Status CheckShape(const WeightSource& source, const WeightEntry& t,
                  const std::vector<int64_t>& shape) {
  if (t.shape == shape) return Status::Ok();
  return InvalidArgument(fmt::format("{}: tensor '{}': shape {}, but config.json implies {}",
                                     source.files()[t.file], t.name, nlohmann::json(t.shape).dump(),
                                     nlohmann::json(shape).dump()));
}

}  // namespace

StatusOr<const WeightEntry*> FindBf16(const WeightSource& source, const std::string& name,
                                      const std::vector<int64_t>& shape) {
  const WeightEntry* t = source.Find(name);
  if (t == nullptr) {
    return NotFound(fmt::format("{}: tensor '{}' is missing", source.path(), name));
  }
  if (t->dtype != DType::kBF16) {
    return Unimplemented(
        fmt::format("{}: tensor '{}': dtype {} (this build computes with BF16 "
                    "weights only)",
                    source.files()[t->file], name, DTypeName(t->dtype)));
  }
  OMNI_RETURN_IF_ERROR(CheckShape(source, *t, shape));
  return t;
}

StatusOr<Bf16Tensor> LoadBf16(const WeightSource& source, const std::string& name,
                              const std::vector<int64_t>& shape) {
  OMNI_ASSIGN_OR_RETURN(const WeightEntry* t, FindBf16(source, name, shape));
  Bf16Tensor out;
  out.name = name;
  out.shape = shape;
  out.data.resize(t->numel);
  out.charge = LedgerCharge(MemoryKind::kDense, out.bytes());
  OMNI_RETURN_IF_ERROR(ReadBf16(source, *t, 0, t->numel, out.data.data()));
  return out;
}

StatusOr<LinearWeight> LoadLinear(const WeightSource& source, const std::string& name,
                                  const std::vector<int64_t>& shape) {
  const WeightEntry* t = source.Find(name);
  if (t != nullptr && t->dtype != DType::kI8 && t->dtype != DType::kBF16) {
    return Unimplemented(fmt::format(
        "{}: tensor '{}': dtype {} (a linear weight is BF16, or I8 from extract --quant-dense)",
        source.files()[t->file], name, DTypeName(t->dtype)));
  }
  if (t == nullptr || t->dtype == DType::kBF16) {
    OMNI_ASSIGN_OR_RETURN(const WeightEntry* b, FindBf16(source, name, shape));
    LinearWeight out{.name = name, .out = shape[0], .in = shape[1]};
    out.data.resize(b->nbytes);
    out.charge = LedgerCharge(MemoryKind::kDense, out.bytes());
    OMNI_RETURN_IF_ERROR(
        ReadBf16(source, *b, 0, b->numel, reinterpret_cast<uint16_t*>(out.data.data())));
    return out;
  }
  const std::string& file = source.files()[t->file];
  OMNI_RETURN_IF_ERROR(CheckShape(source, *t, shape));
  const std::string scale_name = QuantScaleName(name);
  const WeightEntry* s = source.Find(scale_name);
  const std::vector<int64_t> scale_shape = {shape[0]};
  if (s == nullptr || s->dtype != DType::kF32 || s->shape != scale_shape) {
    return InvalidArgument(fmt::format(
        "{}: tensor '{}' is int8 (I8), which needs its per-row scales '{}' as F32 {}; {}", file,
        name, scale_name, ShapeString(scale_shape),
        s == nullptr ? std::string("that tensor is missing")
                     : fmt::format("found {} {}", DTypeName(s->dtype), ShapeString(s->shape))));
  }
  LinearWeight out{.name = name, .out = shape[0], .in = shape[1], .format = WeightFormat::kInt8};
  const QuantLayout l = LayoutOf(WeightFormat::kInt8, out.out, out.in, 0);
  out.data.resize(l.total());
  out.charge = LedgerCharge(MemoryKind::kDense, out.bytes());
  OMNI_RETURN_IF_ERROR(source.Read(*t, 0, l.q_bytes, out.data.data() + l.q_offset));
  OMNI_RETURN_IF_ERROR(source.Read(*s, 0, l.scale_bytes, out.data.data() + l.scale_offset));
  return out;
}

Status ReadBf16(const WeightSource& source, const WeightEntry& t, uint64_t first, uint64_t n,
                uint16_t* dst) {
  return source.Read(t, first * sizeof(uint16_t), n * sizeof(uint16_t), dst);
}

}  // namespace omnisage

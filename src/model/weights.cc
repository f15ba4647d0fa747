#include "model/weights.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace omnisage {

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
  if (t->shape != shape) {
    return InvalidArgument(fmt::format(
        "{}: tensor '{}': shape {}, but config.json implies {}", source.files()[t->file], name,
        nlohmann::json(t->shape).dump(), nlohmann::json(shape).dump()));
  }
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

Status ReadBf16(const WeightSource& source, const WeightEntry& t, uint64_t first, uint64_t n,
                uint16_t* dst) {
  return source.Read(t, first * sizeof(uint16_t), n * sizeof(uint16_t), dst);
}

}  // namespace omnisage

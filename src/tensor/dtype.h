// Element types of checkpoint tensors, with their safetensors names and sizes.
//
// BF16, F16 and F32 are compute types; the rest are recognised so that quantized community
// checkpoints (int8/uint8 packed weights, F8 scales, int32/int64 indices) can be inspected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omnisage {

enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kF8E4M3,
  kF8E5M2,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kI64,
  kU64,
  kF64,
};

// The safetensors spelling: "BF16", "F8_E4M3", ...
std::string_view DTypeName(DType t);
// Inverse of DTypeName; nullopt for a name this build does not know.
std::optional<DType> ParseDType(std::string_view name);
// Bytes per element (all supported dtypes are whole bytes).
uint32_t DTypeSize(DType t);
// True for the dtypes the compute kernels accept as weights.
bool IsComputeDType(DType t);

// A shape for messages: "[768, 2048]" ("[]" for a scalar).
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace omnisage

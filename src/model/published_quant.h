// Published quantized layers (io/packed_quant.h) in the engine's own formats (ops/quant.h).
//
// A 4-bit layer maps onto the engine's int4 without losing a bit when its groups are ones the
// kernels take (32, 64 or 128 inputs, contiguous: no activation-order g_idx) and its zero points
// lie in [0, 15]: the values keep their integers (re-laid in GGML block order), the scales become
// f32 (exact from f16/bf16), the zero points u8. AWQ, GPTQ (v1 and v2) and compressed-tensors
// pack-quantized 4-bit group-wise layers all qualify; what does not (8-bit, per-channel or
// activation-ordered groups, other group sizes) is dequantized instead.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/packed_quant.h"
#include "io/weight_source.h"
#include "model/tensor_table.h"
#include "util/status.h"

namespace omnisage {

// Why `w` cannot be held as the engine's int4 without loss, or "" when it can.
std::string Int4Obstacle(const UnpackedWeight& w);

// `w` as one engine int4 buffer (LayoutOf(kInt4, out, in, group): q, scale, zero).
// REQUIRES: Int4Obstacle(w) is "".
std::vector<uint8_t> ToEngineInt4(const UnpackedWeight& w);

// "int4 g32 sym", "int8 per-channel asym act-order".
std::string SchemeName(const QuantScheme& s);
// True when a layer of this scheme maps onto the engine's int4 (Int4Obstacle), as far as the
// scheme tells: 4 bits, groups of 32/64/128, no activation order (its zero points are in the data).
bool Int4Compatible(const QuantScheme& s);

// The quantization of one component of a published checkpoint, from its tensor names (headers
// only), as `inspect` reports it.
struct ComponentQuant {
  Component component = Component::kOther;
  int64_t quantized = 0;                   // packed modules (M.qweight or M.weight_packed)
  std::map<std::string, int64_t> schemes;  // SchemeName → modules
  int64_t int4_compatible = 0;             // of them, Int4Compatible schemes
  int64_t unmatched = 0;                   // packed, but the config leaves them unquantized
  int64_t unquantized = 0;                 // 2-D ".weight" tensors stored as they are
};
// Every component with a 2-D weight or a packed module, in Component order.
std::vector<ComponentQuant> TakeQuantInventory(const WeightSource& source,
                                               const QuantConfig& config);

}  // namespace omnisage

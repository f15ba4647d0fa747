// The packed tensors of one quantized Linear layer of a published checkpoint, read into one
// integer form whatever the packer, and dequantized from it (docs/quantization.md):
//
//   compressed-tensors pack-quantized   M.weight_packed  I32 [out, ceil(in·bits/32)]: value i of
//                                         a row at bits i·bits (little-endian words), stored
//                                         as q + 2^(bits−1) (q signed)
//                                       M.weight_scale   BF16/F16/F32 [out, groups]
//                                       M.weight_zero_point I32 [ceil(out·bits/32), groups]
//                                         (asymmetric only: packed along the output dimension,
//                                         also offset by 2^(bits−1))
//                                       M.weight_shape   I64/I32 [2] = [out, in]
//                                       M.weight_g_idx   I32 [in] (actorder "group" only)
//                                       w = scale · (q − zp)
//   AutoAWQ GEMM (4-bit)                M.qweight I32 [in, out/8]: word c of input row i holds
//                                         outputs 8c + [0, 2, 4, 6, 1, 3, 5, 7][j] at bits 4j
//                                       M.qzeros  I32 [groups, out/8], the same order
//                                       M.scales  F16 [groups, out]
//                                       w[o][i] = scale · (q − z)
//   GPTQ                                M.qweight I32 [in·bits/32, out]: word r of column o
//                                         holds inputs r·32/bits + j at bits j·bits
//                                       M.qzeros  I32 [groups, out·bits/32], outputs in order
//                                       M.scales  F16 [groups, out]
//                                       M.g_idx   I32 [in] (optional: column / group)
//                                       w[o][i] = scale · (q − z), z = (stored + 1) mod 2^bits
//                                         in the v1 format (checkpoint_format "gptq", as
//                                         AutoGPTQ's kernels read it), stored in v2
//
// In the integer form every value is unsigned (q ∈ [0, 2^bits)) with an unsigned zero point,
// so the three formats meet: w = scale[o][g] · (q[o][i] − zero[o][g]), g = g_idx[i] (or i/group).
// Errors (InvalidArgument, naming the file and the tensor): a tensor missing, of another dtype,
// or whose shape disagrees with the layer's [out, in] and group size; a group size that does not
// divide the row; a g_idx naming a group that does not exist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/quant_config.h"
#include "io/weight_source.h"
#include "util/status.h"

namespace omnisage {

struct UnpackedWeight {
  int64_t out = 0, in = 0;
  int bits = 4;
  int64_t group = 0;           // inputs per group (per channel: in)
  std::vector<uint8_t> q;      // [out, in], in [0, 2^bits)
  std::vector<float> scale;    // [out, groups]
  std::vector<int32_t> zero;   // [out, groups], unsigned zero points
  std::vector<int32_t> g_idx;  // [in]: each input's group; empty: input / group

  int64_t groups() const { return group > 0 ? (in + group - 1) / group : 1; }
  int64_t GroupOf(int64_t i) const { return g_idx.empty() ? i / group : g_idx[i]; }
  // True when every input's group is input / group (no activation-order permutation).
  bool ContiguousGroups() const;
};

// [out, in] float32: scale · (q − zero).
std::vector<float> Dequantize(const UnpackedWeight& w);

// Reads module `module` (its name without ".weight") of `source` as the packer of `method`
// wrote it with `scheme`. `gptq_v1`: GPTQ zeros are stored minus one.
StatusOr<UnpackedWeight> UnpackCompressedTensors(const WeightSource& source,
                                                 const std::string& module,
                                                 const QuantScheme& scheme);
StatusOr<UnpackedWeight> UnpackAwq(const WeightSource& source, const std::string& module,
                                   const QuantScheme& scheme);
StatusOr<UnpackedWeight> UnpackGptq(const WeightSource& source, const std::string& module,
                                    const QuantScheme& scheme, bool gptq_v1);
// The one of the three that `config` names.
StatusOr<UnpackedWeight> UnpackModule(const WeightSource& source, const QuantConfig& config,
                                      const std::string& module, const QuantScheme& scheme);

}  // namespace omnisage

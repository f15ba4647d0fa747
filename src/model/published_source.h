// A published quantized checkpoint (AWQ, GPTQ, compressed-tensors: a config.json with a
// quantization_config) seen as the engine's own tensors, so that the model loads it as it loads
// any checkpoint:
//
//   - a routed expert projection whose scheme maps onto the engine's int4 without loss (4 bits,
//     groups of 32/64/128, no activation order: Int4Compatible), in a stack all of whose expert
//     projections do (the engine holds one expert format per stack), appears as an int4 expert —
//     `M.weight` U8 [out, in/2], `M.weight_scale` F32 [out, groups], `M.weight_zero_point` U8
//     [out, groups] (ops/quant.h), which DetectWeightFormat and ReadExpert take as they take an
//     `extract --quant int4` store;
//   - every other quantized module (attention and shared projections, experts of other schemes)
//     appears as `M.weight` BF16 [out, in], its dequantized values rounded to bf16;
//   - the packed tensors themselves (qweight, qzeros, scales, g_idx; weight_packed, weight_scale,
//     weight_zero_point, weight_shape, weight_g_idx) are not listed; modules the config leaves
//     unquantized, norms, embeddings and routers pass through unchanged.
//
// A tensor is converted when it is read (each read converts its whole module; the last few
// modules are kept, so an expert's three parts convert it once). Errors name the file and the
// tensor: a packed module the config leaves unquantized, a packed tensor missing or of a shape
// that disagrees with the scheme (io/packed_quant.h), an engine tensor name that the checkpoint
// also holds.
//
// Thread-safety: as WeightSource (Read may be called from several threads).
#pragma once

#include <memory>

#include "io/quant_config.h"
#include "io/weight_source.h"
#include "util/status.h"

namespace omnisage {

// `inner` unchanged when its config.json has no quantization_config, else `inner` seen through
// `config`'s quantization. Errors: LoadQuantConfig's, and those above found from the headers.
StatusOr<std::unique_ptr<WeightSource>> WrapPublishedQuant(std::unique_ptr<WeightSource> inner);

}  // namespace omnisage

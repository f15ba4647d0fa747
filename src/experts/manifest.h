// The expert store's manifest (manifest.json): what every file of the store holds and its XXH3
// checksum, the model's config.json, and where each tensor came from in the source checkpoint.
//
// Store layout (one directory):
//   manifest.json                                   written last: its presence marks a complete run
//   dense/<component>.safetensors                   every tensor that is not a routed expert
//   routers/<component>.safetensors                 the MoE routers (mlp.gate.weight) of a stack
//   experts/<component>/layer_LL/expert_EEE.safetensors   one routed expert: gate, up, down
//   config.json, tokenizer.json, ...                copied from the source directory
//
// Tensors keep their original per-expert names (…mlp.experts.E.gate_proj.weight); fused 3-D
// sources are split on the way. Each tensor records its source shard and its position in the
// source checkpoint, so `repack` can rebuild the original sharding.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"
#include "model/tensor_table.h"
#include "ops/quant.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {

inline constexpr std::string_view kManifestFileName = "manifest.json";
inline constexpr std::string_view kStoreFormat = "omnisage-expert-store";
inline constexpr int kStoreVersion = 1;

enum class StoreFileKind : uint8_t { kDense, kRouter, kExpert, kExtra };
std::string_view StoreFileKindName(StoreFileKind k);

struct StoreTensor {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute offset of the data in the store file
  uint64_t bytes = 0;
  std::string source_shard;   // file name of the source shard it came from
  uint64_t source_order = 0;  // position in the source checkpoint (fused pieces: sub-positions)
};

struct StoreFile {
  std::string path;  // relative to the store directory
  StoreFileKind kind = StoreFileKind::kDense;
  Component component = Component::kOther;
  int layer = -1;
  int expert = -1;
  uint64_t bytes = 0;  // file size
  uint64_t xxh3 = 0;   // XXH3-64 of the whole file
  std::vector<StoreTensor> tensors;
};

struct StoreSelection {
  std::vector<std::string> components;        // MoE stacks whose experts were extracted
  std::optional<std::pair<int, int>> layers;  // inclusive range, or all
  std::vector<int> experts;                   // empty: all
  bool complete = true;                       // every expert of the source is in the store
};

// How the store holds the routed experts (`extract --quant`): bf16 as in the source, or int8 /
// int4 (ops/quant.h; each expert tensor's `.weight` holds the values, `.weight_scale` and int4's
// `.weight_zero_point` beside it); and the dense layer projections (`extract --quant-dense`,
// tensor_table.h QuantizedByQuantDense): bf16, or int8 stored the same way. Recorded as
// "quantization": {"experts": {…}, "dense": {…}} in manifest.json, each part absent when bf16.
struct StoreQuantization {
  WeightFormat experts = WeightFormat::kBf16;
  int64_t group = 0;  // int4's group size
  // int4's rounding ("rounding" in the manifest; a manifest without it was written by min–max).
  Int4Rounding int4_rounding = Int4Rounding::kMinMax;
  WeightFormat dense = WeightFormat::kBf16;
  bool quantized() const { return experts != WeightFormat::kBf16 || dense != WeightFormat::kBf16; }
};
// "bf16", "int8", "int4 g128, search rounding".
std::string DescribeStoreQuantization(const StoreQuantization& q);

struct Manifest {
  std::string model_type;
  nlohmann::json config;  // config.json of the source (null when it had none)
  std::string source_path;
  std::string expert_layout;  // "per_expert" or "fused" in the source
  StoreSelection selection;
  StoreQuantization quantization;
  std::vector<StoreFile> files;
};

// Relative paths of the store's files.
std::string ExpertFilePath(Component c, int layer, int expert);
std::string DenseFilePath(Component c);
std::string RouterFilePath(Component c);

// Why a store file's tensors, as the manifest records them, do not lie end to end after its
// header to the end of the file, as extract writes them (an offset edited or overlapping); nullopt
// when they do or the file has no tensors.
std::optional<std::string> TilingProblem(const StoreFile& f);

// Why a safetensors header read from a store file (its data section starting at `data_offset`)
// disagrees with the manifest's record of that file — tensor count, names, dtypes, shapes or
// offsets; nullopt when they agree.
std::optional<std::string> HeaderProblem(const SafetensorsHeader& header, uint64_t data_offset,
                                         const StoreFile& f);

nlohmann::ordered_json ManifestToJson(const Manifest& m);
// Parses manifest.json; errors name `file_name` and the field.
StatusOr<Manifest> ParseManifest(std::string_view text, const std::string& file_name);

}  // namespace omnisage

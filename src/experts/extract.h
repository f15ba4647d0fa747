// `omnisage extract`: turn a checkpoint into an expert store (layout in manifest.h).
//
// Streaming and bounded: tensors are copied with pread/write through one reusable buffer
// (kCopyBufferBytes), never mapping or reading a shard whole, so resident memory stays small
// whatever the model size. Safe and resumable: every file is written under a temporary name and
// renamed when complete, and recorded (path, size, XXH3) in extract.journal; a rerun after a kill
// or an error skips the journalled files that still verify and rewrites the rest. manifest.json
// is written last, so a store without one is visibly incomplete. Errors (disk full, I/O) stop the
// run with a message naming the file and saying how to resume; no partial file is left under a
// final name, nor a temporary one. One writer per store: the run holds extract.lock (flock) in
// the store, so a second extraction into the same directory fails at once; under the lock,
// temporary files a killed run left are removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "model/tensor_table.h"
#include "ops/quant.h"
#include "util/status.h"

namespace omnisage {

inline constexpr size_t kCopyBufferBytes = 8 << 20;
inline constexpr std::string_view kJournalFileName = "extract.journal";
// Held (flock) by the extraction writing the store; a second one into the same directory fails.
inline constexpr std::string_view kLockFileName = "extract.lock";

struct ExtractOptions {
  std::string model;  // checkpoint directory or .safetensors file
  std::string out;    // store directory
  // Which MoE stacks' experts to extract ("thinker", "talker", "text"); empty: all.
  std::vector<Component> components;
  std::optional<std::pair<int, int>> layers;  // inclusive; nullopt: all
  std::vector<int> experts;                   // empty: all
  // Routed experts quantized on the way (ops/quant.h): bf16 copies them as they are; int8 and
  // int4 (groups of `group`) need BF16 expert weights and write `.weight` (I8 [out, in] or U8
  // [out, in / 2]), `.weight_scale` (F32) and, int4, `.weight_zero_point` (U8) per projection.
  WeightFormat quant = WeightFormat::kBf16;
  int64_t group = 128;
  // The dense weights tensor_table.h's QuantizedByQuantDense names (the decoder layers'
  // projections, the thinker's lm_head) stored as int8 the same way (I8 `.weight`, F32
  // `.weight_scale` [out]); every other dense tensor is copied.
  bool quant_dense = false;
  // How int4 groups are rounded (ops/quant.h); recorded in the manifest and in each int4 expert
  // file's header metadata, so resuming with another rounding rewrites the files.
  Int4Rounding int4_rounding = Int4Rounding::kSearch;
  // Threads quantizing (the rows of a matrix split among them; the bytes do not depend on it):
  // 0 = every core.
  int threads = 0;
  bool progress = true;
  FileSystem* fs = nullptr;  // nullptr: the POSIX file system
};

struct ExtractReport {
  uint64_t files_written = 0;
  uint64_t files_skipped = 0;  // already complete from an earlier run (resume)
  uint64_t bytes_written = 0;  // bytes of files written by this run
  uint64_t bytes_total = 0;    // bytes of all files of the store
  uint64_t expert_files = 0;
  double seconds = 0;
  uint64_t peak_rss_bytes = 0;
};

StatusOr<ExtractReport> ExtractStore(const ExtractOptions& options);

// Parses "0-7,12,40-41" into a sorted list without duplicates.
StatusOr<std::vector<int>> ParseIndexList(std::string_view text);

}  // namespace omnisage

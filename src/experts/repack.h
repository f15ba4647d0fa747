// `omnisage repack`: turn an expert store back into a standard Hugging Face checkpoint
// (model.safetensors.index.json + shards, original tensor names, per-expert layout) whose tensors
// are byte-identical to the source's. Tensors go back to the shard they came from, in their source
// order (a fused source comes back per expert, each expert's slice in the fused tensor's shard),
// so weights can travel on to transformers or vLLM. The store's other files (config.json,
// tokenizer files) are copied. Streaming: one reusable buffer, shards written as "<name>.tmp" and
// renamed when complete.
#pragma once

#include <cstdint>
#include <string>

#include "io/file_system.h"
#include "util/status.h"

namespace omnisage {

struct RepackOptions {
  std::string store;
  std::string out;
  bool progress = true;
  FileSystem* fs = nullptr;
};

struct RepackReport {
  int shards = 0;
  uint64_t tensors = 0;
  uint64_t bytes = 0;
  double seconds = 0;
};

StatusOr<RepackReport> RepackStore(const RepackOptions& options);

}  // namespace omnisage

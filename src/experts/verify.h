// `omnisage verify`: recheck an expert store against its manifest — every file present, of the
// recorded size, with the recorded XXH3, and (for safetensors files) with a valid header holding
// exactly the recorded tensors, dtypes, shapes and offsets. Reads each file once, in chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experts/manifest.h"
#include "io/file_system.h"
#include "util/status.h"

namespace omnisage {

struct VerifyProblem {
  std::string path;  // relative to the store
  std::string problem;
};

struct VerifyReport {
  uint64_t files = 0;
  uint64_t bytes = 0;
  StoreQuantization quantization;       // the routed experts' format, from the manifest
  std::vector<VerifyProblem> problems;  // empty: the store verifies
  double seconds = 0;
};

// An error Status only when the store cannot be checked at all (no or unreadable manifest);
// bad files are reported in VerifyReport::problems.
StatusOr<VerifyReport> VerifyStore(const std::string& dir, bool progress = true,
                                   FileSystem* fs = nullptr);

}  // namespace omnisage

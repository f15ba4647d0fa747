// Byte sizes as people write them: formatting ("9.00 MiB") and parsing ("2GiB", "512M", "25%").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace omnisage {

// Binary units with two decimals: "512 B", "9.00 MiB", "61.24 GiB".
std::string FormatBytes(uint64_t bytes);

// Integer with thousands separators: 35259818545 -> "35,259,818,545".
std::string FormatCount(uint64_t n);

// A size given on a command line. Either absolute bytes ("1048576", "512KiB", "2GiB", "1.5G",
// "300MB"; K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000), or a
// percentage of some total ("25%"), which the caller resolves with Resolve().
struct SizeSpec {
  bool is_percent = false;
  double percent = 0;  // when is_percent, in (0, 100]
  uint64_t bytes = 0;  // otherwise

  uint64_t Resolve(uint64_t total) const {
    return is_percent ? static_cast<uint64_t>(static_cast<double>(total) * percent / 100.0) : bytes;
  }
};
StatusOr<SizeSpec> ParseSize(std::string_view text);

}  // namespace omnisage

// The process's own memory, as the kernel accounts it (/proc/self/status).
#pragma once

#include <cstdint>

namespace omnisage {

// Peak resident set size (VmHWM) in bytes, 0 if unavailable.
uint64_t PeakRssBytes();
// Current resident set size (VmRSS) in bytes, 0 if unavailable.
uint64_t CurrentRssBytes();

}  // namespace omnisage

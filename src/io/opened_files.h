// The files this process has opened for reading through io/file.h (model shards, expert files,
// configs), so the memory profiler can ask the kernel how much of each is in the page cache.
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

namespace omnisage {

void NoteOpenedFile(const std::string& path);
// Every distinct path noted so far, in first-open order.
std::vector<std::string> OpenedFiles();

}  // namespace omnisage

// FileSystem: every open, create, rename and remove that a long-running job (extract, repack,
// verify) performs goes through this interface, so tests can inject faults (full disks, read
// errors, failed renames; see fault_injection.h) without touching the real disk's behaviour.
//
// Default() is the POSIX file system and is thread-safe. Implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/file.h"
#include "util/status.h"

namespace omnisage {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path,
                                                   ReadMode mode = ReadMode::kPread) = 0;
  // Creates or truncates `path`.
  virtual StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file; OK when it does not exist.
  virtual Status Remove(const std::string& path) = 0;
  virtual Status CreateDirectories(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;

  // The POSIX file system.
  static FileSystem* Default();
};

// Writes `contents` to a temporary file beside `path` (io/temp_file.h) through `fs`, fsyncs it and
// renames it over `path`; on failure no temporary file is left.
Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view contents);

// XXH3-64 of a whole file, read in chunks through `buffer` (whose size sets the chunk size);
// `on_bytes` (optional) is told how many bytes each chunk held, for progress bars.
StatusOr<uint64_t> HashFile(const File& file, std::vector<uint8_t>& buffer,
                            const std::function<void(size_t)>& on_bytes = {});

// Copies `from` to a temporary file beside `to` in chunks of `buffer_bytes`, then renames it to
// `to`; on failure removes the temporary file. Returns the XXH3-64 of the bytes copied.
StatusOr<uint64_t> CopyFileAtomically(FileSystem* fs, const std::string& from,
                                      const std::string& to, size_t buffer_bytes = 8 << 20);

}  // namespace omnisage

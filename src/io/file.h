// File: the only way OmniSage reads bytes from disk (leveldb's Env / gemma.cpp's io.h idea).
//
// A File is immutable, random-access and thread-safe for concurrent ReadAt calls. Tests swap in an
// in-memory File (NewMemoryFile) or, later, a fault-injecting one, so every reader can be tested
// against short files, read errors and corrupt bytes without touching the disk.
//
// WritableFile is a sequential, buffered writer owned by one thread. Writers that must never leave
// a half-written file visible write to a temporary name and rename (io/temp_file.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace omnisage {

class File {
 public:
  virtual ~File() = default;

  // The path (or test name) used in error messages.
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;

  // Reads exactly `n` bytes starting at `offset` into `dst`. A range past the end of the file is
  // an OutOfRange error naming the file; an OS failure is an IoError.
  virtual Status ReadAt(uint64_t offset, size_t n, void* dst) const = 0;

  // The file's bytes as one mapped region of size() bytes, or nullptr when this File is not
  // mapped (pread mode). Mapped pages count toward the process's resident set once touched.
  virtual const uint8_t* mapped() const { return nullptr; }
};

enum class ReadMode {
  kPread,  // every access is a pread(2); nothing is mapped
  kMmap,   // the whole file is mapped read-only; ReadAt copies out of the mapping
};

// Opens a regular file for reading. Errors name the path.
StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode = ReadMode::kPread);

// A File over bytes held in memory (tests, fuzzing).
std::unique_ptr<File> NewMemoryFile(std::string name, std::string contents);

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual const std::string& name() const = 0;
  virtual Status Append(const void* data, size_t n) = 0;
  Status Append(std::string_view s) { return Append(s.data(), s.size()); }
  // Advances `n` zero bytes without writing them: on file systems with sparse files these bytes
  // are a hole and take no disk space.
  virtual Status Skip(uint64_t n) = 0;
  // Hands buffered bytes to the operating system (no fsync).
  virtual Status Flush() = 0;
  // Bytes appended or skipped so far.
  virtual uint64_t position() const = 0;
  // Flushes buffers, sets the final length, fsyncs if asked, and closes. Must be called; a
  // WritableFile destroyed without Close() discards nothing but reports nothing either.
  virtual Status Close(bool sync = false) = 0;
};

// Creates (or truncates) `path` for writing.
StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path);

// Raises this process's soft limit on open files (RLIMIT_NOFILE) to at least `n` when the hard
// limit allows (else to the hard limit); returns the soft limit now in force. An expert store
// keeps one descriptor per expert file it has read: 8,704 for the full Qwen3-Omni, above the
// usual default soft limit of 1,024.
uint64_t EnsureOpenFileLimit(uint64_t n);

// Reads a whole (small) file: config.json, index.json, tokenizer.json.
StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to a temporary file beside `path`, fsyncs it and renames it over `path`; on
// failure no temporary file is left (WriteFileAtomically of file_system.h, on the POSIX file
// system; defined there).
Status WriteFileAtomically(const std::string& path, std::string_view contents);

Status RenameFile(const std::string& from, const std::string& to);
bool FileExists(const std::string& path);
bool IsDirectory(const std::string& path);
// Creates `path` and any missing parents.
Status CreateDirectories(const std::string& path);

}  // namespace omnisage

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
#include <vector>

#include "util/status.h"

namespace omnisage {

// How a File reads, and what its reads leave in the kernel's page cache (docs/offload.md).
enum class ReadMode {
  kPread,  // every access is a pread(2); nothing is mapped; the pages read stay in the page cache
  kMmap,   // the whole file is mapped read-only; ReadAt copies out of the mapping
  // pread(2) without readahead (POSIX_FADV_RANDOM), then posix_fadvise(DONTNEED) over the
  // whole pages just read: they leave the page cache
  // as soon as the read returns, so the file's bytes are not kept twice (in the caller's buffer
  // and in the cache). Works on every file system that honours the advice (not tmpfs, whose
  // pages are the file).
  kDropCache,
  // O_DIRECT: the disk DMAs into an aligned buffer of the reading thread (at most
  // kDirectChunkBytes, reused), copied into the destination; nothing enters the page cache.
  // Where the file system refuses O_DIRECT (the open or a first aligned read fails with
  // EINVAL), the file is read as kDropCache instead: each such file is listed in
  // DirectIoFallbacks(), and the first one is also said on stderr.
  kDirect,
};

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

  // How reads reach the disk: the mode asked for, or kDropCache where kDirect fell back.
  virtual ReadMode read_mode() const { return ReadMode::kPread; }
};

// The name of a mode as --io spells it: "cached" (kPread), "mmap", "drop", "direct".
std::string_view ReadModeName(ReadMode mode);

// The largest single O_DIRECT request, and so the size of each reading thread's aligned buffer.
inline constexpr size_t kDirectChunkBytes = 8 << 20;
// Offsets, lengths and buffers of O_DIRECT requests are aligned to this (any block size up to it).
inline constexpr size_t kDirectAlignment = 4096;

// Opens a regular file for reading. Errors name the path.
StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode = ReadMode::kPread);

// As OpenFile, on a file system that refuses O_DIRECT: kDirect falls back exactly as it does on
// such a file system. For fault injection (FaultInjectingFileSystem::RefuseDirectIo).
StatusOr<std::unique_ptr<File>> OpenFileRefusingDirect(const std::string& path, ReadMode mode);

// One line per file whose kDirect open fell back to kDropCache: the path and the OS's reason.
std::vector<std::string> DirectIoFallbacks();

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

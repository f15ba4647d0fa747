// A FileSystem for tests that forwards to another and injects faults on demand: a disk that
// fills up after N more bytes, reads that fail at a byte offset of matching files, renames that
// fail. Thread-safe (the knobs are atomics / guarded by a mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "io/file_system.h"

namespace omnisage {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem* base = FileSystem::Default()) : base_(base) {}

  // After `bytes` more bytes are written (all files together), every write fails with
  // "No space left on device". A negative value disables the fault.
  void FailWritesAfter(int64_t bytes) { write_budget_ = bytes; }
  // Reads of files whose path contains `substring` fail when they touch bytes at or past
  // `offset`. An empty substring disables the fault.
  void FailReads(std::string substring, uint64_t offset);
  // Renames whose target contains `substring` fail. Empty disables.
  void FailRenames(std::string substring);
  // Files whose path contains `substring`, opened with ReadMode::kDirect, behave as on a file
  // system that refuses O_DIRECT (they fall back as file.h says). Empty disables.
  void RefuseDirectIo(std::string substring);

  uint64_t bytes_written() const { return bytes_written_; }
  int faults() const { return faults_; }

  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode) override;
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override { return base_->Remove(path); }
  Status CreateDirectories(const std::string& path) override {
    return base_->CreateDirectories(path);
  }
  bool Exists(const std::string& path) override { return base_->Exists(path); }

  // Used by the wrapped files.
  Status ChargeWrite(const std::string& name, uint64_t n);
  Status CheckRead(const std::string& name, uint64_t offset, uint64_t n);

 private:
  FileSystem* base_;
  std::atomic<int64_t> write_budget_{-1};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<int> faults_{0};
  std::mutex mu_;
  std::string read_fault_substring_;
  uint64_t read_fault_offset_ = 0;
  std::string rename_fault_substring_;
  std::string direct_refusal_substring_;
};

}  // namespace omnisage

// TempFile: a file written under a temporary name beside its final path and renamed over it when
// complete — the one way OmniSage writes a file others may read. A TempFile that goes out of
// scope without a successful Commit (an error path, an exception-free early return) closes and
// removes its temporary file, so a failed writer leaves neither a partial file under the final
// name nor a stray "*.tmp".
//
// The temporary name is "<path>.<pid>.<n>.tmp" (n counts TempFiles in the process), so two
// writers of one path — two processes saving the same trust file, two threads — never write into
// each other's temporary file; the last rename wins whole. Not thread-safe (one writer per
// TempFile); creating TempFiles from several threads is.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "io/file_system.h"
#include "util/status.h"

namespace omnisage {

// "<path>.<pid>.<n>.tmp", unique within this process and, through the pid, among processes.
std::string UniqueTempPath(const std::string& path);

class TempFile {
 public:
  // Creates the temporary file for `path` through `fs` (nullptr: POSIX). Errors name it.
  static StatusOr<TempFile> Create(const std::string& path, FileSystem* fs = nullptr);

  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();  // Discard() unless committed

  WritableFile& file() { return *file_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // Closes the file (fsync first when `sync`) and renames it over path(). On failure the
  // temporary file is removed and the error (naming the file) returned; either way the TempFile
  // is done.
  Status Commit(bool sync = false);
  // Closes and removes the temporary file (nothing when already committed or discarded).
  void Discard();

 private:
  TempFile(std::string path, std::string temp_path, std::unique_ptr<WritableFile> file,
           FileSystem* fs)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), file_(std::move(file)), fs_(fs) {}

  std::string path_;
  std::string temp_path_;
  std::unique_ptr<WritableFile> file_;
  FileSystem* fs_ = nullptr;
  bool done_ = false;
};

}  // namespace omnisage

// FileLock: an exclusive advisory lock (flock) on a lock file, held for the FileLock's lifetime —
// how writers that must not run concurrently (two extractions into one store, two saves of one
// trust file) exclude each other, across processes and across threads alike (each FileLock opens
// the file anew). The lock file is created when absent and left in place (removing it would let
// a third writer lock a new file while a second holds the old one); it holds the holder's pid,
// for the message the next writer gets. The lock goes away with the process, however it ends.
#pragma once

#include <memory>
#include <string>

#include "util/status.h"

namespace omnisage {

class FileLock {
 public:
  enum class Mode {
    kTry,   // fail at once when another holds it
    kWait,  // block until it is free
  };

  // Errors: the lock file cannot be created; with kTry, another holder (an IoError whose message
  // names the lock file and the holder's pid when known).
  static StatusOr<std::unique_ptr<FileLock>> Acquire(const std::string& path, Mode mode);
  ~FileLock();

  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace omnisage

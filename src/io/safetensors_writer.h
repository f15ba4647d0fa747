// Writing safetensors files by streaming: declare every tensor up front (the header is written
// first), then append each tensor's bytes in declaration order, in chunks of any size.
//
// The file is written under a temporary name (io/temp_file.h) and renamed to <path> only by a
// successful Finish(), so a crash or an error never leaves a complete-looking but partial file;
// a writer destroyed without a successful Finish() removes its temporary file. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/file.h"
#include "io/file_system.h"
#include "io/temp_file.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {

struct TensorDecl {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;

  uint64_t nbytes() const;
};

// The header JSON for `tensors` laid out back to back in the given order, padded with spaces to a
// multiple of 8 bytes (as the reference writer does) so the data section is 8-byte aligned.
std::string BuildSafetensorsHeader(const std::vector<TensorDecl>& tensors,
                                   const std::map<std::string, std::string>& metadata);

class SafetensorsWriter {
 public:
  // Creates the temporary file (through `fs`; nullptr: POSIX) and writes the header. Metadata
  // defaults to
  // {"format": "pt"}, which transformers requires.
  static StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, std::vector<TensorDecl> tensors,
      std::map<std::string, std::string> metadata = {{"format", "pt"}}, FileSystem* fs = nullptr);

  // Appends the next `n` bytes of tensor data (they may span tensor boundaries).
  Status Append(const void* data, size_t n);
  // Advances `n` bytes of zeros without writing them (a sparse hole).
  Status Skip(uint64_t n);
  // Checks that exactly all declared bytes were given, closes and renames into place.
  Status Finish(bool sync = false);

  uint64_t data_bytes() const { return total_; }
  uint64_t data_written() const { return written_; }

 private:
  SafetensorsWriter(std::string path, TempFile file, uint64_t total)
      : path_(std::move(path)), file_(std::move(file)), total_(total) {}
  Status CheckRoom(uint64_t n) const;

  std::string path_;
  TempFile file_;
  uint64_t total_;
  uint64_t written_ = 0;
};

}  // namespace omnisage

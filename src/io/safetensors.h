// Reading safetensors files: an 8-byte little-endian header length N, N bytes of JSON, then the
// data section. The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" string map.
//
// Every header is validated before any byte of data is trusted: the header length is bounded by
// the file and by kMaxHeaderBytes, the JSON is an object, dtypes are known, dims are non-negative
// and their product does not overflow, shape x dtype size equals the byte range, ranges lie inside
// the data section and do not overlap. Errors name the file, the tensor and the field.
//
// A SafetensorsFile is immutable after Open and safe to read from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/file.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {

// Headers larger than this are refused (the reference implementation uses the same bound).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t numel = 0;       // product of shape (1 for a scalar)
  uint64_t data_begin = 0;  // byte range relative to the data section
  uint64_t data_end = 0;

  uint64_t nbytes() const { return data_end - data_begin; }
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in data order (ascending data_begin)
  std::map<std::string, std::string> metadata;
};

// Parses and validates header JSON. `data_size` is the size of the data section (bytes after the
// header); `file_name` prefixes every error. Never throws, never reads outside `json_text`.
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json_text, uint64_t data_size,
                                                   std::string_view file_name);

class SafetensorsFile {
 public:
  // Reads and validates the header of `file`; tensor data is not touched.
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(std::unique_ptr<File> file);
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path,
                                                         ReadMode mode = ReadMode::kPread);

  const std::string& name() const { return file_->name(); }
  const File& file() const { return *file_; }
  uint64_t header_bytes() const { return data_offset_ - 8; }
  // Offset of the data section in the file (8 + header length).
  uint64_t data_offset() const { return data_offset_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  // nullptr if absent.
  const TensorInfo* Find(std::string_view tensor_name) const;

  // Copies the tensor's nbytes() bytes into dst.
  Status Read(const TensorInfo& t, void* dst) const;
  // The tensor's bytes inside the mapping, or nullptr when the file is not mapped.
  const uint8_t* MappedData(const TensorInfo& t) const;

 private:
  SafetensorsFile(std::unique_ptr<File> file, uint64_t data_offset, SafetensorsHeader header);

  std::unique_ptr<File> file_;
  uint64_t data_offset_;
  SafetensorsHeader header_;
  std::unordered_map<std::string_view, size_t> index_;  // name -> position in header_.tensors
};

}  // namespace omnisage

#include "io/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace omnisage {

using nlohmann::json;

namespace {

// Reads a non-negative integer that fits in int64 from a JSON number.
bool AsNonNegative(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t x = v.get<uint64_t>();
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = x;
    return true;
  }
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x < 0) return false;
    *out = static_cast<uint64_t>(x);
    return true;
  }
  return false;
}

Status ParseTensorEntry(const std::string& key, const json& entry, uint64_t data_size,
                        std::string_view file_name, TensorInfo* t) {
  auto err = [&](std::string_view field, std::string_view what) {
    return InvalidArgument(
        fmt::format("{}: header: tensor '{}': {}: {}", file_name, key, field, what));
  };
  if (!entry.is_object()) return err("entry", "expected an object with dtype, shape, data_offsets");
  t->name = key;

  auto dt = entry.find("dtype");
  if (dt == entry.end()) return err("dtype", "missing");
  if (!dt->is_string()) return err("dtype", "expected a string");
  auto dtype = ParseDType(dt->get_ref<const std::string&>());
  if (!dtype) return err("dtype", fmt::format("unknown dtype '{}'", dt->get<std::string>()));
  t->dtype = *dtype;

  auto sh = entry.find("shape");
  if (sh == entry.end()) return err("shape", "missing");
  if (!sh->is_array()) return err("shape", "expected an array of integers");
  uint64_t numel = 1;
  bool overflow = false;
  bool has_zero = false;
  for (const json& d : *sh) {
    uint64_t dim;
    if (!AsNonNegative(d, &dim)) {
      // dump() recurses, so a deeply nested array or object is named only by its type.
      return err("shape", fmt::format("dimension {} is not a non-negative integer",
                                      d.is_structured() ? d.type_name() : d.dump()));
    }
    t->shape.push_back(static_cast<int64_t>(dim));
    if (dim == 0) has_zero = true;
    if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
    numel *= dim;
  }
  // A zero dim makes the product 0 even after an earlier overflow, which is still well defined.
  // (A wrapped product can also be 0, e.g. [2^32, 2^32], so test for a zero dim, not for 0.)
  if (overflow && !has_zero) return err("shape", "element count overflows 64 bits");
  t->numel = numel;
  uint64_t elem = DTypeSize(t->dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / elem) {
    return err("shape", "byte size overflows 64 bits");
  }
  uint64_t expect_bytes = numel * elem;

  auto off = entry.find("data_offsets");
  if (off == entry.end()) return err("data_offsets", "missing");
  if (!off->is_array() || off->size() != 2) return err("data_offsets", "expected [begin, end]");
  if (!AsNonNegative((*off)[0], &t->data_begin) || !AsNonNegative((*off)[1], &t->data_end)) {
    return err("data_offsets", "offsets must be non-negative integers");
  }
  if (t->data_end < t->data_begin) {
    return err("data_offsets", fmt::format("end {} before begin {}", t->data_end, t->data_begin));
  }
  if (t->data_end > data_size) {
    return err("data_offsets",
               fmt::format("range [{}, {}) passes the end of the data section ({} bytes); the "
                           "file is truncated or the header is wrong",
                           t->data_begin, t->data_end, data_size));
  }
  if (t->nbytes() != expect_bytes) {
    return err("data_offsets",
               fmt::format("range holds {} bytes but shape {} of {} needs {}", t->nbytes(),
                           json(t->shape).dump(), DTypeName(t->dtype), expect_bytes));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json_text, uint64_t data_size,
                                                   std::string_view file_name) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const std::exception& e) {
    return InvalidArgument(fmt::format("{}: header: invalid JSON: {}", file_name, e.what()));
  }
  if (!root.is_object()) {
    return InvalidArgument(
        fmt::format("{}: header: expected a JSON object, got {}", file_name, root.type_name()));
  }
  SafetensorsHeader header;
  header.tensors.reserve(root.size());
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) {
        return InvalidArgument(
            fmt::format("{}: header: __metadata__: expected an object of strings", file_name));
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return InvalidArgument(fmt::format(
              "{}: header: __metadata__: '{}': expected a string value", file_name, m.key()));
        }
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo t;
    OMNI_RETURN_IF_ERROR(ParseTensorEntry(it.key(), *it, data_size, file_name, &t));
    header.tensors.push_back(std::move(t));
  }
  std::sort(
      header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.data_begin != b.data_begin ? a.data_begin < b.data_begin : a.data_end < b.data_end;
      });
  // Empty tensors occupy no bytes and cannot overlap; every other range must start at or after
  // the furthest end seen so far.
  const TensorInfo* furthest = nullptr;
  for (const TensorInfo& t : header.tensors) {
    if (t.nbytes() == 0) continue;
    if (furthest != nullptr && t.data_begin < furthest->data_end) {
      return InvalidArgument(fmt::format(
          "{}: header: tensor '{}': data_offsets: range [{}, {}) overlaps tensor '{}' [{}, {})",
          file_name, t.name, t.data_begin, t.data_end, furthest->name, furthest->data_begin,
          furthest->data_end));
    }
    if (furthest == nullptr || t.data_end > furthest->data_end) furthest = &t;
  }
  return header;
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<File> file, uint64_t data_offset,
                                 SafetensorsHeader header)
    : file_(std::move(file)), data_offset_(data_offset), header_(std::move(header)) {
  index_.reserve(header_.tensors.size());
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(std::unique_ptr<File> file) {
  const std::string& name = file->name();
  uint64_t size = file->size();
  if (size < 8) {
    return InvalidArgument(fmt::format(
        "{}: header length: file is {} bytes, too short for the 8-byte header length of a "
        "safetensors file",
        name, size));
  }
  uint8_t len_bytes[8];
  OMNI_RETURN_IF_ERROR(file->ReadAt(0, 8, len_bytes));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > size - 8) {
    return InvalidArgument(fmt::format(
        "{}: header length: {} bytes, but only {} bytes follow it (not a safetensors file, or "
        "truncated)",
        name, header_len, size - 8));
  }
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return InvalidArgument(fmt::format("{}: header length: {} bytes exceeds the limit of {}", name,
                                       header_len, kMaxSafetensorsHeaderBytes));
  }
  if (header_len < 2) {
    return InvalidArgument(
        fmt::format("{}: header length: {} bytes cannot hold a JSON object", name, header_len));
  }
  std::string json_text(header_len, '\0');
  OMNI_RETURN_IF_ERROR(file->ReadAt(8, header_len, json_text.data()));
  uint64_t data_offset = 8 + header_len;
  OMNI_ASSIGN_OR_RETURN(SafetensorsHeader header,
                        ParseSafetensorsHeader(json_text, size - data_offset, name));
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(std::move(file), data_offset, std::move(header)));
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path,
                                                                 ReadMode mode) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> file, OpenFile(path, mode));
  return Open(std::move(file));
}

const TensorInfo* SafetensorsFile::Find(std::string_view tensor_name) const {
  auto it = index_.find(tensor_name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

Status SafetensorsFile::Read(const TensorInfo& t, void* dst) const {
  return file_->ReadAt(data_offset_ + t.data_begin, t.nbytes(), dst);
}

const uint8_t* SafetensorsFile::MappedData(const TensorInfo& t) const {
  const uint8_t* base = file_->mapped();
  return base == nullptr ? nullptr : base + data_offset_ + t.data_begin;
}

}  // namespace omnisage

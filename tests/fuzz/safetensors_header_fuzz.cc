// libFuzzer target for the safetensors header reader.
//
// Each input is used twice:
//   1. as a whole safetensors file, through NewMemoryFile + SafetensorsFile::Open;
//   2. through ParseSafetensorsHeader directly: the first 8 bytes (little-endian) are both the
//      length of the JSON window that follows them (clamped to what is there, as in a file) and
//      the data-section size, which here, unlike in (1), may reach 2^64 - 1.
// Neither may crash, leak or hang, and whatever they accept must satisfy the invariants that
// the header comment of io/safetensors.h promises; a violation aborts, which libFuzzer reports.
//
// Run with scripts/run-fuzz.sh.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/file.h"
#include "io/safetensors.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {
namespace {

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void Check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

// The promises of ParseSafetensorsHeader for the tensors of an accepted header.
void CheckTensors(const std::vector<TensorInfo>& tensors, uint64_t data_size) {
  uint64_t furthest_end = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : tensors) {
    Check(t.name != "__metadata__", "__metadata__ parsed as a tensor");
    Check(ParseDType(DTypeName(t.dtype)).has_value(), "dtype", t.name);
    uint64_t numel = 1;
    bool has_zero = false;
    bool overflow = false;
    for (int64_t d : t.shape) {
      Check(d >= 0, "negative dimension", t.name);
      if (d == 0) has_zero = true;
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) overflow = true;
    }
    if (has_zero) numel = 0;
    Check(!overflow || has_zero, "element count overflows but was accepted", t.name);
    Check(t.numel == numel, "numel is not the product of the shape", t.name);
    uint64_t nbytes = 0;
    Check(!__builtin_mul_overflow(numel, uint64_t{DTypeSize(t.dtype)}, &nbytes),
          "byte size overflows but was accepted", t.name);
    Check(t.data_begin <= t.data_end, "end before begin", t.name);
    Check(t.data_end <= data_size, "range past the data section", t.name);
    Check(t.nbytes() == nbytes, "range does not match shape x dtype", t.name);
    if (prev != nullptr) Check(prev->data_begin <= t.data_begin, "not in data order", t.name);
    if (t.nbytes() != 0) {
      Check(t.data_begin >= furthest_end, "overlapping ranges accepted", t.name);
      furthest_end = std::max(furthest_end, t.data_end);
    }
    prev = &t;
  }
}

void FuzzFile(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto opened = SafetensorsFile::Open(NewMemoryFile("fuzz.safetensors", bytes));
  if (!opened.ok()) {
    // Every error names the file.
    Check(opened.status().message().find("fuzz.safetensors") != std::string::npos,
          "error does not name the file", opened.status().message());
    return;
  }
  const SafetensorsFile& f = **opened;
  Check(size >= 10, "accepted a file too short for a header");
  Check(f.data_offset() >= 10 && f.data_offset() <= size, "data offset outside the file");
  Check(f.header_bytes() == f.data_offset() - 8, "header_bytes");
  const uint64_t data_size = size - f.data_offset();
  CheckTensors(f.tensors(), data_size);
  std::vector<uint8_t> buf;
  for (const TensorInfo& t : f.tensors()) {
    Check(f.Find(t.name) == &t, "Find does not return the tensor", t.name);
    // Every accepted range lies inside the file, so reading it must succeed and match the bytes.
    buf.resize(t.nbytes() + 1);
    Status s = f.Read(t, buf.data());
    Check(s.ok(), "Read of an accepted tensor failed", s.ToString());
    const uint8_t* mapped = f.MappedData(t);
    Check(mapped != nullptr, "memory file is not mapped");
    Check(std::memcmp(mapped, buf.data(), t.nbytes()) == 0, "mapped bytes differ", t.name);
    Check(std::memcmp(data + f.data_offset() + t.data_begin, buf.data(), t.nbytes()) == 0,
          "read bytes differ from the input", t.name);
  }
  Check(f.Find("__metadata__") == nullptr, "__metadata__ found as a tensor");
}

void FuzzParse(const uint8_t* data, size_t size) {
  uint64_t field = 0;
  for (size_t i = 0; i < 8 && i < size; ++i) field |= static_cast<uint64_t>(data[i]) << (8 * i);
  const size_t rest = size > 8 ? size - 8 : 0;
  const size_t json_len = field < rest ? static_cast<size_t>(field) : rest;
  std::string_view json(reinterpret_cast<const char*>(data) + (size - rest), json_len);
  const uint64_t data_size = field;
  auto parsed = ParseSafetensorsHeader(json, data_size, "direct");
  if (!parsed.ok()) {
    Check(parsed.status().message().rfind("direct: ", 0) == 0, "error does not start with name",
          parsed.status().message());
    return;
  }
  CheckTensors(parsed->tensors, data_size);
}

}  // namespace
}  // namespace omnisage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  omnisage::FuzzFile(data, size);
  omnisage::FuzzParse(data, size);
  return 0;
}

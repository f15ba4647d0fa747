// XXH3-64 checksums, one-shot and streaming, printed as 16 lowercase hex digits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace omnisage {

uint64_t Xxh3(const void* data, size_t n);
std::string ChecksumHex(uint64_t h);

// Streaming XXH3-64 of a sequence of byte ranges. Not thread-safe.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;

  void Update(const void* data, size_t n);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace omnisage

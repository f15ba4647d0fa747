#include "util/checksum.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace omnisage {

struct Xxh3Stream::State {
  XXH3_state_t* s = XXH3_createState();
  ~State() { XXH3_freeState(s); }
};

uint64_t Xxh3(const void* data, size_t n) { return XXH3_64bits(data, n); }

std::string ChecksumHex(uint64_t h) { return fmt::format("{:016x}", h); }

Xxh3Stream::Xxh3Stream() : state_(std::make_unique<State>()) { XXH3_64bits_reset(state_->s); }
Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Update(const void* data, size_t n) { XXH3_64bits_update(state_->s, data, n); }

uint64_t Xxh3Stream::Digest() const { return XXH3_64bits_digest(state_->s); }

}  // namespace omnisage

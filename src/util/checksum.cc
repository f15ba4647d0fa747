#include "util/checksum.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "util/xxh3_avx2.h"

namespace omnisage {
namespace {

// Whether to hash with the AVX2 build of XXH3 (xxh3_avx2.cc) instead of the library's.
bool UseAvx2() {
#if defined(OMNISAGE_XXH3_AVX2)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

}  // namespace

struct Xxh3Stream::State {
  const bool avx2 = UseAvx2();
  void* s = avx2 ? xxh3_avx2::NewState() : XXH3_createState();
  ~State() { avx2 ? xxh3_avx2::FreeState(s) : (void)XXH3_freeState(static_cast<XXH3_state_t*>(s)); }
};

uint64_t Xxh3(const void* data, size_t n) {
  return UseAvx2() ? xxh3_avx2::Hash(data, n) : XXH3_64bits(data, n);
}

std::string ChecksumHex(uint64_t h) { return fmt::format("{:016x}", h); }

Xxh3Stream::Xxh3Stream() : state_(std::make_unique<State>()) {
  if (!state_->avx2) XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_->s));
}
Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Update(const void* data, size_t n) {
  if (state_->avx2) {
    xxh3_avx2::Update(state_->s, data, n);
  } else {
    XXH3_64bits_update(static_cast<XXH3_state_t*>(state_->s), data, n);
  }
}

uint64_t Xxh3Stream::Digest() const {
  return state_->avx2 ? xxh3_avx2::Digest(state_->s)
                      : XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_->s));
}

}  // namespace omnisage

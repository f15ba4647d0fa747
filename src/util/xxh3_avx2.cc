// XXH3-64 compiled for AVX2 (this file only is built with -mavx2): the Debian library is built
// for the x86-64 baseline (SSE2), about three times slower. checksum.cc calls these only on
// CPUs that have AVX2; the hashes are the same whichever implementation computes them.
#define XXH_INLINE_ALL
#include "util/xxh3_avx2.h"

#include <xxhash.h>

namespace omnisage::xxh3_avx2 {

uint64_t Hash(const void* data, size_t n) { return XXH3_64bits(data, n); }

void* NewState() {
  XXH3_state_t* s = XXH3_createState();
  if (s != nullptr) XXH3_64bits_reset(s);
  return s;
}

void Update(void* state, const void* data, size_t n) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state), data, n);
}

uint64_t Digest(const void* state) {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state));
}

void FreeState(void* state) { XXH3_freeState(static_cast<XXH3_state_t*>(state)); }

}  // namespace omnisage::xxh3_avx2

// XXH3-64 built for AVX2 (xxh3_avx2.cc), for checksum.cc's dispatch; callers use util/checksum.h.
// Call only where the CPU has AVX2 (and the build has OMNISAGE_XXH3_AVX2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace omnisage::xxh3_avx2 {

uint64_t Hash(const void* data, size_t n);
// A streaming state, reset; null when memory is short.
void* NewState();
void Update(void* state, const void* data, size_t n);
uint64_t Digest(const void* state);
void FreeState(void* state);

}  // namespace omnisage::xxh3_avx2

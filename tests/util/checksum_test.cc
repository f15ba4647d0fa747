// XXH3-64: whichever implementation checksum.cc dispatches to (the AVX2 build where the CPU has
// it), one-shot and streaming hashes equal the library's for every length class XXH3 treats
// differently (0, 1-3, 4-8, 9-16, 17-128, 129-240, long inputs and stripe/block boundaries).
#include "util/checksum.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdint>
#include <random>
#include <vector>

namespace omnisage {
namespace {

TEST(ChecksumTest, EqualsTheLibraryOneShotAndStreaming) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> data(3 << 20);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(Xxh3(nullptr, 0), 0x2d06800538d394c2ull);  // the specification's empty input
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{8}, size_t{9}, size_t{16},
                   size_t{17}, size_t{128}, size_t{129}, size_t{240}, size_t{241}, size_t{1023},
                   size_t{1024}, size_t{1025}, size_t{65536 + 7}, data.size()}) {
    const uint64_t want = XXH3_64bits(data.data(), n);
    EXPECT_EQ(Xxh3(data.data(), n), want) << n;
    for (size_t piece : {size_t{1}, size_t{63}, size_t{256}, size_t{1} << 20}) {
      if (piece == 1 && n > 4096) continue;
      Xxh3Stream s;
      for (size_t off = 0; off < n; off += piece)
        s.Update(data.data() + off, std::min(piece, n - off));
      EXPECT_EQ(s.Digest(), want) << n << " in pieces of " << piece;
    }
  }
}

}  // namespace
}  // namespace omnisage

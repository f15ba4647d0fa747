#include "util/units.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace omnisage {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;
constexpr uint64_t kGiB = kMiB * 1024;
constexpr uint64_t kTiB = kGiB * 1024;

// --- FormatBytes -------------------------------------------------------------------------------

TEST(FormatBytesTest, SmallValuesAreWholeBytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1), "1 B");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
}

TEST(FormatBytesTest, BinaryUnitsWithTwoDecimals) {
  EXPECT_EQ(FormatBytes(1024), "1.00 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(9 * kMiB), "9.00 MiB");
  EXPECT_EQ(FormatBytes(kGiB), "1.00 GiB");
  EXPECT_EQ(FormatBytes(3 * kGiB + kGiB / 4), "3.25 GiB");
  EXPECT_EQ(FormatBytes(2 * kTiB), "2.00 TiB");
  EXPECT_EQ(FormatBytes(kTiB * 1024), "1.00 PiB");
}

TEST(FormatBytesTest, UnitBoundaryRoundsUp) {
  EXPECT_EQ(FormatBytes(kMiB - 1), "1.00 MiB");
  EXPECT_EQ(FormatBytes(kGiB - 1), "1.00 GiB");
  EXPECT_EQ(FormatBytes(kMiB - 6 * 1024), "1018.00 KiB");
}

TEST(FormatBytesTest, RealCheckpointSize) {
  // 35,259,818,545 bf16 parameters = 70,519,637,090 bytes = 65.68 GiB.
  EXPECT_EQ(FormatBytes(uint64_t{35259818545} * 2), "65.68 GiB");
}

TEST(FormatBytesTest, PiBIsTheLargestUnit) {
  EXPECT_EQ(FormatBytes(kTiB * 1024 * 2048), "2048.00 PiB");
  EXPECT_EQ(FormatBytes(std::numeric_limits<uint64_t>::max()), "16384.00 PiB");
}

// --- FormatCount -------------------------------------------------------------------------------

TEST(FormatCountTest, NoSeparatorBelowOneThousand) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(7), "7");
  EXPECT_EQ(FormatCount(42), "42");
  EXPECT_EQ(FormatCount(999), "999");
}

TEST(FormatCountTest, GroupsOfThree) {
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(12345), "12,345");
  EXPECT_EQ(FormatCount(100000), "100,000");
  EXPECT_EQ(FormatCount(1000000), "1,000,000");
  EXPECT_EQ(FormatCount(28010), "28,010");
  EXPECT_EQ(FormatCount(35259818545), "35,259,818,545");
  EXPECT_EQ(FormatCount(30532646912), "30,532,646,912");
}

TEST(FormatCountTest, Max) {
  EXPECT_EQ(FormatCount(std::numeric_limits<uint64_t>::max()), "18,446,744,073,709,551,615");
}

// --- ParseSize ---------------------------------------------------------------------------------

// The bytes `text` parses to; fails the test when it is not an absolute size.
uint64_t Bytes(const std::string& text) {
  StatusOr<SizeSpec> s = ParseSize(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status().ToString();
  if (!s.ok()) return 0;
  EXPECT_FALSE(s->is_percent) << text;
  return s->bytes;
}

TEST(ParseSizeTest, PlainBytes) {
  EXPECT_EQ(Bytes("0"), 0u);
  EXPECT_EQ(Bytes("1"), 1u);
  EXPECT_EQ(Bytes("1048576"), 1048576u);
  EXPECT_EQ(Bytes("5B"), 5u);
  EXPECT_EQ(Bytes("5b"), 5u);
  EXPECT_EQ(Bytes("70519637090"), 70519637090u);
}

TEST(ParseSizeTest, BinaryUnits) {
  EXPECT_EQ(Bytes("512KiB"), 512 * kKiB);
  EXPECT_EQ(Bytes("9MiB"), 9 * kMiB);
  EXPECT_EQ(Bytes("2GiB"), 2 * kGiB);
  EXPECT_EQ(Bytes("3TiB"), 3 * kTiB);
}

TEST(ParseSizeTest, SingleLetterUnitsAreBinary) {
  EXPECT_EQ(Bytes("1K"), kKiB);
  EXPECT_EQ(Bytes("512M"), 512 * kMiB);
  EXPECT_EQ(Bytes("2G"), 2 * kGiB);
  EXPECT_EQ(Bytes("1T"), kTiB);
}

TEST(ParseSizeTest, DecimalUnitsArePowersOfAThousand) {
  EXPECT_EQ(Bytes("1KB"), 1000u);
  EXPECT_EQ(Bytes("300MB"), 300000000u);
  EXPECT_EQ(Bytes("64GB"), 64000000000u);
  EXPECT_EQ(Bytes("2TB"), 2000000000000u);
}

TEST(ParseSizeTest, UnitsAreCaseInsensitive) {
  EXPECT_EQ(Bytes("2gib"), 2 * kGiB);
  EXPECT_EQ(Bytes("2Gib"), 2 * kGiB);
  EXPECT_EQ(Bytes("512m"), 512 * kMiB);
  EXPECT_EQ(Bytes("300mb"), 300000000u);
}

TEST(ParseSizeTest, SpaceBeforeUnit) {
  EXPECT_EQ(Bytes("512 MiB"), 512 * kMiB);
  EXPECT_EQ(Bytes("4 GB"), 4000000000u);
}

TEST(ParseSizeTest, Decimals) {
  EXPECT_EQ(Bytes("1.5G"), kGiB + kGiB / 2);
  EXPECT_EQ(Bytes("0.5KiB"), 512u);
  EXPECT_EQ(Bytes("2.25MiB"), 2 * kMiB + kMiB / 4);
  EXPECT_EQ(Bytes("1.5KB"), 1500u);
  EXPECT_EQ(Bytes(".5K"), 512u);
}

TEST(ParseSizeTest, FractionalBytesRound) {
  EXPECT_EQ(Bytes("1.4"), 1u);
  EXPECT_EQ(Bytes("1.6"), 2u);
}

TEST(ParseSizeTest, Percentages) {
  StatusOr<SizeSpec> s = ParseSize("25%");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->is_percent);
  EXPECT_DOUBLE_EQ(s->percent, 25.0);
  EXPECT_EQ(s->Resolve(1000), 250u);
  EXPECT_EQ(s->Resolve(64 * kGiB), 16 * kGiB);

  s = ParseSize("100%");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->is_percent);
  EXPECT_EQ(s->Resolve(12345), 12345u);

  s = ParseSize("12.5%");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_DOUBLE_EQ(s->percent, 12.5);
  EXPECT_EQ(s->Resolve(800), 100u);

  s = ParseSize("0.1%");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->Resolve(10000), 10u);
}

TEST(ParseSizeTest, ResolveOfAnAbsoluteSizeIgnoresTheTotal) {
  StatusOr<SizeSpec> s = ParseSize("2GiB");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Resolve(0), 2 * kGiB);
  EXPECT_EQ(s->Resolve(kTiB), 2 * kGiB);
}

// Expects `text` to be refused with InvalidArgument and a message that quotes it.
void ExpectBad(const std::string& text) {
  StatusOr<SizeSpec> s = ParseSize(text);
  ASSERT_FALSE(s.ok()) << "'" << text << "' parsed";
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << text;
  EXPECT_NE(s.status().message().find("'" + text + "'"), std::string::npos) << s.status().message();
}

TEST(ParseSizeTest, Empty) { ExpectBad(""); }

TEST(ParseSizeTest, NotANumber) {
  ExpectBad("abc");
  ExpectBad("GiB");
  ExpectBad("%");
  ExpectBad(" 5G");
  ExpectBad(".");
  ExpectBad("1.2.3G");
}

TEST(ParseSizeTest, UnknownUnit) {
  ExpectBad("5XB");
  ExpectBad("5 bytes");
  ExpectBad("5PiB");
  ExpectBad("5Gi");
  ExpectBad("1e");  // an "e" without exponent digits is a unit, and not a known one
  ExpectBad("5G%");
}

TEST(ParseSizeTest, PercentOutOfRange) {
  ExpectBad("0%");
  ExpectBad("0.0%");
  ExpectBad("150%");
  ExpectBad("100.5%");
}

TEST(ParseSizeTest, Negative) {
  ExpectBad("-1");
  ExpectBad("-5G");
  ExpectBad("-25%");
}

TEST(ParseSizeTest, Exponents) {
  StatusOr<SizeSpec> s = ParseSize("1e9");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes, 1000000000u);
  s = ParseSize("2.5E+1GiB");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes, 25 * kGiB);
  s = ParseSize("5e-1KiB");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes, 512u);
}

// Expects `text` to be refused as too large (not as an unknown unit).
void ExpectTooLarge(const std::string& text) {
  ExpectBad(text);
  EXPECT_NE(ParseSize(text).status().message().find("too large"), std::string::npos)
      << ParseSize(text).status().message();
}

TEST(ParseSizeTest, TooLarge) {
  ExpectTooLarge("20000000000G");
  ExpectTooLarge("99999999999999999999");
  ExpectTooLarge("17179869184GiB");  // 2^64 bytes
  ExpectTooLarge("1e99GiB");
  ExpectTooLarge("1e400");
}

}  // namespace
}  // namespace omnisage

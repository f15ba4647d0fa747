#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/file.h"
#include "io/safetensors_writer.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {
namespace {

constexpr char kName[] = "crafted.safetensors";

// The 8 little-endian bytes of a safetensors header length.
std::string LengthBytes(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// A whole safetensors file: the length of `header`, `header`, then `data`.
std::string MakeFileBytes(std::string_view header, std::string_view data = "") {
  std::string out = LengthBytes(header.size());
  out.append(header);
  out.append(data);
  return out;
}

StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(std::string bytes) {
  return SafetensorsFile::Open(NewMemoryFile(kName, std::move(bytes)));
}

StatusOr<std::unique_ptr<SafetensorsFile>> OpenHeader(std::string_view header,
                                                      std::string_view data = "") {
  return OpenBytes(MakeFileBytes(header, data));
}

// Success when `status` is an error whose message contains every one of `needles`.
::testing::AssertionResult FailsWith(const Status& status,
                                     std::initializer_list<std::string_view> needles) {
  if (status.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  for (std::string_view needle : needles) {
    if (status.message().find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << status.message() << "\" lacks \"" << needle << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

// A header with one tensor `w` described by `fields` (the inside of its JSON object).
std::string OneTensor(std::string_view fields) {
  return std::string(R"({"w":{)") + std::string(fields) + "}}";
}

// ---------------------------------------------------------------------------------------------
// The 8-byte header length.

TEST(SafetensorsOpenTest, EmptyFileFails) {
  auto r = OpenBytes("");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "header length", "0 bytes"}));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(SafetensorsOpenTest, FileShorterThanEightBytesFails) {
  auto r = OpenBytes(std::string("\x02\0\0\0\0", 5));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "header length", "5 bytes"}));
}

TEST(SafetensorsOpenTest, HeaderLengthPastEndOfFileFails) {
  // Claims 100 header bytes, but only 10 follow.
  auto r = OpenBytes(LengthBytes(100) + std::string(10, ' '));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "header length", "100", "only 10 bytes"}));
}

TEST(SafetensorsOpenTest, HeaderLengthOfAllOnesFails) {
  // 2^64 - 1: 8 + length would wrap around if computed naively.
  auto r = OpenBytes(std::string(8, '\xff') + "{}");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "header length"}));
}

TEST(SafetensorsOpenTest, HeaderLengthBelowTwoFails) {
  EXPECT_TRUE(FailsWith(OpenBytes(LengthBytes(0)).status(), {kName, "header length", "0 bytes"}));
  EXPECT_TRUE(
      FailsWith(OpenBytes(LengthBytes(1) + "{").status(), {kName, "header length", "1 bytes"}));
}

TEST(SafetensorsOpenTest, HeaderLengthAboveLimitInSmallFileFails) {
  auto r = OpenBytes(LengthBytes(kMaxSafetensorsHeaderBytes + 1) + "{}");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "header length", "100000001"}));
}

TEST(SafetensorsOpenTest, HeaderLengthAboveLimitFailsEvenWhenTheFileIsLargeEnough) {
  // A sparse file of 8 + kMax + 1 bytes, so only the limit (not the file size) can refuse it.
  std::string templ = ::testing::TempDir() + "/omnisage_st_limit_XXXXXX";
  ASSERT_NE(mkdtemp(templ.data()), nullptr);
  const std::string path = templ + "/huge.safetensors";
  {
    auto f = NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Append(LengthBytes(kMaxSafetensorsHeaderBytes + 1)).ok());
    ASSERT_TRUE((*f)->Append("{}").ok());
    ASSERT_TRUE((*f)->Skip(kMaxSafetensorsHeaderBytes - 1).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  auto r = SafetensorsFile::Open(path);
  EXPECT_TRUE(FailsWith(r.status(), {path, "header length", "exceeds the limit"}));
  std::filesystem::remove_all(templ);
}

TEST(SafetensorsOpenTest, MissingPathFails) {
  const std::string path = ::testing::TempDir() + "/omnisage_no_such_dir/x.safetensors";
  auto r = SafetensorsFile::Open(path);
  EXPECT_TRUE(FailsWith(r.status(), {path}));
}

// ---------------------------------------------------------------------------------------------
// The header JSON as a whole.

TEST(SafetensorsOpenTest, InvalidJsonFails) {
  EXPECT_TRUE(FailsWith(OpenHeader(R"({"w":)").status(), {kName, "invalid JSON"}));
  EXPECT_TRUE(FailsWith(OpenHeader(R"({} trailing)").status(), {kName, "invalid JSON"}));
  EXPECT_TRUE(FailsWith(OpenHeader(std::string("{\0}", 3)).status(), {kName, "invalid JSON"}));
}

TEST(SafetensorsOpenTest, HeaderThatIsNotAnObjectFails) {
  EXPECT_TRUE(FailsWith(OpenHeader("[]").status(), {kName, "expected a JSON object", "array"}));
  EXPECT_TRUE(FailsWith(OpenHeader("42").status(), {kName, "expected a JSON object", "number"}));
  EXPECT_TRUE(
      FailsWith(OpenHeader(R"("str")").status(), {kName, "expected a JSON object", "string"}));
  EXPECT_TRUE(FailsWith(OpenHeader("null").status(), {kName, "expected a JSON object", "null"}));
}

TEST(SafetensorsOpenTest, EmptyObjectHeaderHasNoTensors) {
  auto r = OpenHeader("{}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->tensors().empty());
  EXPECT_TRUE((*r)->metadata().empty());
  EXPECT_EQ((*r)->data_offset(), 10u);
}

// ---------------------------------------------------------------------------------------------
// One tensor entry.

TEST(SafetensorsOpenTest, TensorEntryNotAnObjectFails) {
  EXPECT_TRUE(FailsWith(OpenHeader(R"({"w":5})").status(), {kName, "'w'", "entry"}));
  EXPECT_TRUE(FailsWith(OpenHeader(R"({"w":["F32",[1],[0,4]]})").status(), {kName, "'w'"}));
}

TEST(SafetensorsOpenTest, MissingDtypeFails) {
  auto r = OpenHeader(OneTensor(R"("shape":[1],"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "dtype", "missing"}));
}

TEST(SafetensorsOpenTest, DtypeThatIsNotAStringFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":4,"shape":[1],"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "dtype"}));
}

TEST(SafetensorsOpenTest, UnknownDtypeFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"Q4","shape":[1],"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "dtype", "'Q4'"}));
  // Names are case-sensitive, as in the reference implementation.
  r = OpenHeader(OneTensor(R"("dtype":"f32","shape":[1],"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "dtype", "'f32'"}));
}

TEST(SafetensorsOpenTest, MissingShapeFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape", "missing"}));
}

TEST(SafetensorsOpenTest, ShapeThatIsNotAnArrayFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":1,"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape"}));
}

TEST(SafetensorsOpenTest, NegativeDimensionFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[2,-1],"data_offsets":[0,0])"));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape", "-1"}));
}

TEST(SafetensorsOpenTest, NonIntegerDimensionFails) {
  for (std::string_view dim :
       {"2.0", "2.5", R"("2")", "true", "null", "[2]", "{}", "9223372036854775808", "1e3"}) {
    SCOPED_TRACE(dim);
    std::string fields =
        std::string(R"("dtype":"U8","shape":[)") + std::string(dim) + R"(],"data_offsets":[0,2])";
    auto r = OpenHeader(OneTensor(fields), "ab");
    EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape"}));
  }
}

TEST(SafetensorsOpenTest, DeeplyNestedDimensionFailsWithoutOverflowingTheStack) {
  // A dimension that is an array nested a million deep (a 2 MB header): the error must not
  // recurse through it.
  const size_t depth = 1'000'000;
  std::string fields = R"("dtype":"U8","shape":[)" + std::string(depth, '[') +
                       std::string(depth, ']') + R"(],"data_offsets":[0,0])";
  auto r = OpenHeader(OneTensor(fields));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape"}));
  EXPECT_LT(r.status().message().size(), 1000u);
}

TEST(SafetensorsOpenTest, ElementCountOverflowFails) {
  for (std::string_view shape : {
           "[4294967296,4294967296]",  // exactly 2^64: wraps to 0
           "[4294967296,4294967297]",
           "[9223372036854775807,3]",
           "[65536,65536,65536,65536,2]",
       }) {
    SCOPED_TRACE(shape);
    std::string fields =
        std::string(R"("dtype":"U8","shape":)") + std::string(shape) + R"(,"data_offsets":[0,0])";
    auto r = OpenHeader(OneTensor(fields));
    EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape", "overflows"}));
  }
}

TEST(SafetensorsOpenTest, ByteSizeOverflowFails) {
  // 2^62 elements fit in 64 bits, 2^62 x 4 bytes do not.
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[4611686018427387904],)"
                                R"("data_offsets":[0,0])"));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "shape", "overflows"}));
}

TEST(SafetensorsOpenTest, ZeroDimensionAfterHugeDimensionsIsAnEmptyTensor) {
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[4294967296,4294967296,0],)"
                                R"("data_offsets":[0,0])"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors()[0].numel, 0u);
}

TEST(SafetensorsOpenTest, ShapeRangeMismatchFails) {
  // F32 [2] needs 8 bytes; the range holds 4.
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[2],"data_offsets":[0,4])"), "abcdefgh");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "holds 4", "needs 8"}));
  // And the other way round: BF16 [1] needs 2 bytes, the range holds 4.
  r = OpenHeader(OneTensor(R"("dtype":"BF16","shape":[1],"data_offsets":[0,4])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "needs 2"}));
}

TEST(SafetensorsOpenTest, MissingDataOffsetsFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"U8","shape":[1])"), "a");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "missing"}));
}

TEST(SafetensorsOpenTest, DataOffsetsEndBeforeBeginFails) {
  auto r = OpenHeader(OneTensor(R"("dtype":"U8","shape":[4],"data_offsets":[8,4])"), "abcdefgh");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "end 4 before begin 8"}));
}

TEST(SafetensorsOpenTest, DataOffsetsWrongArityFails) {
  for (std::string_view offsets : {"[]", "[0]", "[0,2,4]", "4", R"("0,4")", "{}"}) {
    SCOPED_TRACE(offsets);
    std::string fields =
        std::string(R"("dtype":"U8","shape":[4],"data_offsets":)") + std::string(offsets);
    auto r = OpenHeader(OneTensor(fields), "abcd");
    EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "[begin, end]"}));
  }
}

TEST(SafetensorsOpenTest, DataOffsetsThatAreNotNonNegativeIntegersFail) {
  for (std::string_view offsets :
       {"[-4,0]", "[0,4.0]", R"(["0",4])", "[0,null]", "[0,18446744073709551615]"}) {
    SCOPED_TRACE(offsets);
    std::string fields =
        std::string(R"("dtype":"U8","shape":[4],"data_offsets":)") + std::string(offsets);
    auto r = OpenHeader(OneTensor(fields), "abcd");
    EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets"}));
  }
}

TEST(SafetensorsOpenTest, OverlappingRangesFail) {
  // Partial overlap.
  auto r = OpenHeader(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                      std::string(12, 'x'));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'b'", "data_offsets", "overlaps", "'a'"}));
  // Identical ranges.
  r = OpenHeader(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                 R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                 std::string(4, 'x'));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "data_offsets", "overlaps"}));
  // `c` lies inside `a`, with an empty tensor between them in data order: `c` must be checked
  // against the furthest end seen, not against its neighbour.
  r = OpenHeader(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                 R"("b":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},)"
                 R"("c":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})",
                 std::string(16, 'x'));
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'c'", "data_offsets", "overlaps", "'a'"}));
}

TEST(SafetensorsOpenTest, AdjacentRangesAndGapsAreAccepted) {
  auto r = OpenHeader(R"({"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},)"
                      R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                      R"("c":{"dtype":"U8","shape":[2],"data_offsets":[10,12]}})",
                      "0123456789AB");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& t = (*r)->tensors();
  ASSERT_EQ(t.size(), 3u);
  // Sorted in data order, whatever the order in the header.
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[1].name, "b");
  EXPECT_EQ(t[2].name, "c");
  std::string bytes(2, '\0');
  ASSERT_TRUE((*r)->Read(*(*r)->Find("c"), bytes.data()).ok());
  EXPECT_EQ(bytes, "AB");
}

TEST(SafetensorsOpenTest, DataPastEndOfFileFails) {
  // The header promises 8 bytes; the file holds 4 (a truncated download).
  auto r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "passes the end", "4 bytes"}));
  // An empty tensor placed past the end is refused too.
  r = OpenHeader(OneTensor(R"("dtype":"F32","shape":[0],"data_offsets":[8,8])"), "abcd");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'w'", "data_offsets", "passes the end"}));
}

TEST(SafetensorsOpenTest, BadMetadataFails) {
  for (std::string_view meta : {"[]", R"("pt")", "1", "null"}) {
    SCOPED_TRACE(meta);
    auto r = OpenHeader(std::string(R"({"__metadata__":)") + std::string(meta) + "}");
    EXPECT_TRUE(FailsWith(r.status(), {kName, "__metadata__", "expected an object"}));
  }
  for (std::string_view value : {"1", "null", "true", "{}", R"(["pt"])"}) {
    SCOPED_TRACE(value);
    auto r = OpenHeader(std::string(R"({"__metadata__":{"format":"pt","bad":)") +
                        std::string(value) + "}}");
    EXPECT_TRUE(FailsWith(r.status(), {kName, "__metadata__", "'bad'", "string"}));
  }
}

TEST(SafetensorsOpenTest, ErrorInLaterTensorNamesThatTensor) {
  auto r = OpenHeader(R"({"good":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                      R"("model.layers.0.bad":{"dtype":"U8","shape":[1]}})",
                      "a");
  EXPECT_TRUE(FailsWith(r.status(), {kName, "'model.layers.0.bad'", "data_offsets"}));
}

// ---------------------------------------------------------------------------------------------
// ParseSafetensorsHeader on its own.

TEST(ParseSafetensorsHeaderTest, ErrorsCarryTheGivenFileName) {
  auto r = ParseSafetensorsHeader(OneTensor(R"("dtype":"U8","shape":[1])"), 1, "shard-7");
  EXPECT_TRUE(FailsWith(r.status(), {"shard-7", "'w'", "data_offsets"}));
  EXPECT_TRUE(
      FailsWith(ParseSafetensorsHeader("", 0, "shard-7").status(), {"shard-7", "invalid JSON"}));
}

TEST(ParseSafetensorsHeaderTest, RangesAreCheckedAgainstTheDataSize) {
  const std::string header = OneTensor(R"("dtype":"I64","shape":[2],"data_offsets":[8,24])");
  EXPECT_TRUE(ParseSafetensorsHeader(header, 24, "f").ok());
  EXPECT_TRUE(FailsWith(ParseSafetensorsHeader(header, 23, "f").status(), {"passes the end"}));
}

TEST(ParseSafetensorsHeaderTest, LargeOffsetsWithinAHugeDataSection) {
  // Offsets near 2^63 are legal when the data section is that large; nothing is read.
  auto r = ParseSafetensorsHeader(
      OneTensor(R"("dtype":"U8","shape":[16],)"
                R"("data_offsets":[9223372036854775791,9223372036854775807])"),
      UINT64_MAX, "f");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tensors[0].data_end, 9223372036854775807u);
  EXPECT_EQ(r->tensors[0].nbytes(), 16u);
}

TEST(ParseSafetensorsHeaderTest, ParsesMetadataAndFields) {
  auto r = ParseSafetensorsHeader(R"({"__metadata__":{"format":"pt","k":""},)"
                                  R"("x":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
                                  R"("s":{"dtype":"F64","shape":[],"data_offsets":[12,20]}})",
                                  20, "f");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"k", ""}}));
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "x");
  EXPECT_EQ(r->tensors[0].dtype, DType::kBF16);
  EXPECT_EQ(r->tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r->tensors[0].numel, 6u);
  EXPECT_EQ(r->tensors[1].name, "s");
  EXPECT_TRUE(r->tensors[1].shape.empty());
  EXPECT_EQ(r->tensors[1].numel, 1u);  // a scalar
  EXPECT_EQ(r->tensors[1].data_begin, 12u);
  EXPECT_EQ(r->tensors[1].nbytes(), 8u);
}

// ---------------------------------------------------------------------------------------------
// Valid files.

TEST(SafetensorsOpenTest, AllRecognisedDtypesParse) {
  const std::map<std::string, std::pair<DType, uint64_t>> dtypes = {
      {"BOOL", {DType::kBool, 1}},      {"U8", {DType::kU8, 1}},
      {"I8", {DType::kI8, 1}},          {"F8_E4M3", {DType::kF8E4M3, 1}},
      {"F8_E5M2", {DType::kF8E5M2, 1}}, {"I16", {DType::kI16, 2}},
      {"U16", {DType::kU16, 2}},        {"F16", {DType::kF16, 2}},
      {"BF16", {DType::kBF16, 2}},      {"I32", {DType::kI32, 4}},
      {"U32", {DType::kU32, 4}},        {"F32", {DType::kF32, 4}},
      {"I64", {DType::kI64, 8}},        {"U64", {DType::kU64, 8}},
      {"F64", {DType::kF64, 8}},
  };
  for (const auto& [name, expected] : dtypes) {
    SCOPED_TRACE(name);
    const auto [dtype, size] = expected;
    const std::string header =
        OneTensor(R"("dtype":")" + name + R"(","shape":[3],"data_offsets":[0,)" +
                  std::to_string(3 * size) + "]");
    auto r = OpenHeader(header, std::string(3 * size, 'x'));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const TensorInfo& t = (*r)->tensors().at(0);
    EXPECT_EQ(t.dtype, dtype);
    EXPECT_EQ(DTypeName(t.dtype), name);
    EXPECT_EQ(t.nbytes(), 3 * size);
    // A range one byte short is refused, so the element size is exactly the expected one.
    const std::string short_header =
        OneTensor(R"("dtype":")" + name + R"(","shape":[3],"data_offsets":[0,)" +
                  std::to_string(3 * size - 1) + "]");
    EXPECT_FALSE(OpenHeader(short_header, std::string(3 * size, 'x')).ok());
  }
}

TEST(SafetensorsOpenTest, ZeroSizedTensorsAreAccepted) {
  // Empty tensors occupy no bytes: they may sit at the end of the data or inside another range.
  auto r = OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("e0":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                      R"("e1":{"dtype":"BF16","shape":[3,0,5],"data_offsets":[4,4]},)"
                      R"("e2":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})",
                      std::string(8, 'x'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)->tensors().size(), 4u);
  for (std::string_view name : {"e0", "e1", "e2"}) {
    const TensorInfo* t = (*r)->Find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->numel, 0u);
    EXPECT_EQ(t->nbytes(), 0u);
    char unused = 0;
    EXPECT_TRUE((*r)->Read(*t, &unused).ok());
  }
  EXPECT_EQ((*r)->Find("e1")->shape, (std::vector<int64_t>{3, 0, 5}));
}

TEST(SafetensorsOpenTest, HeaderPaddedWithSpacesIsAccepted) {
  std::string header = OneTensor(R"("dtype":"U8","shape":[1],"data_offsets":[0,1])");
  header.append(7, ' ');
  auto r = OpenHeader(header, "z");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->header_bytes(), header.size());
  EXPECT_EQ((*r)->data_offset(), 8 + header.size());
}

// Fixture with a fresh temporary directory per test.
class SafetensorsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/omnisage_st_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  std::string dir_;
};

// Deterministic, position-dependent bytes.
std::string Pattern(size_t n, uint8_t seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return out;
}

TEST_F(SafetensorsFileTest, WriterOutputRoundTrips) {
  const std::vector<TensorDecl> decls = {
      {"model.embed_tokens.weight", DType::kBF16, {5, 3}},
      {"model.norm.weight", DType::kF32, {7}},
      {"empty", DType::kF16, {0, 4}},
      {"scale", DType::kF8E4M3, {}},
      {"ids", DType::kI64, {2, 2}},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a \"q\""}};
  const std::string path = Path("model.safetensors");

  std::vector<std::string> payloads;
  std::string all;
  for (size_t i = 0; i < decls.size(); ++i) {
    payloads.push_back(Pattern(decls[i].nbytes(), static_cast<uint8_t>(i)));
    all += payloads.back();
  }
  {
    auto w = SafetensorsWriter::Create(path, decls, metadata);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ((*w)->data_bytes(), all.size());
    // Chunks of 3 bytes straddle every tensor boundary.
    for (size_t i = 0; i < all.size(); i += 3) {
      ASSERT_TRUE((*w)->Append(all.data() + i, std::min<size_t>(3, all.size() - i)).ok());
    }
    EXPECT_FALSE(FileExists(path));  // not before Finish
    ASSERT_TRUE((*w)->Finish().ok());
  }
  EXPECT_TRUE(FileExists(path));
  EXPECT_FALSE(FileExists(path + ".tmp"));

  for (ReadMode mode : {ReadMode::kPread, ReadMode::kMmap}) {
    SCOPED_TRACE(mode == ReadMode::kMmap ? "mmap" : "pread");
    auto r = SafetensorsFile::Open(path, mode);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const SafetensorsFile& f = **r;
    EXPECT_EQ(f.name(), path);
    EXPECT_EQ(f.metadata(), metadata);
    EXPECT_EQ(f.data_offset() % 8, 0u);  // the writer pads the header
    EXPECT_EQ(f.file().size(), f.data_offset() + all.size());
    ASSERT_EQ(f.tensors().size(), decls.size());
    EXPECT_EQ(f.Find("missing"), nullptr);
    EXPECT_EQ(f.Find("__metadata__"), nullptr);
    for (size_t i = 0; i < decls.size(); ++i) {
      SCOPED_TRACE(decls[i].name);
      const TensorInfo* t = f.Find(decls[i].name);
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->name, decls[i].name);
      EXPECT_EQ(t->dtype, decls[i].dtype);
      EXPECT_EQ(t->shape, decls[i].shape);
      EXPECT_EQ(t->nbytes(), decls[i].nbytes());
      std::string got(t->nbytes(), '\0');
      ASSERT_TRUE(f.Read(*t, got.data()).ok());
      EXPECT_EQ(got, payloads[i]);
      const uint8_t* mapped = f.MappedData(*t);
      if (mode == ReadMode::kPread) {
        EXPECT_EQ(mapped, nullptr);
      } else {
        ASSERT_NE(mapped, nullptr);
        EXPECT_EQ(std::memcmp(mapped, payloads[i].data(), payloads[i].size()), 0);
      }
    }
  }
}

TEST_F(SafetensorsFileTest, WriterDefaultsMetadataToFormatPt) {
  const std::string path = Path("m.safetensors");
  auto w = SafetensorsWriter::Create(path, {{"x", DType::kU8, {2}}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Skip(2).ok());  // a sparse hole reads back as zeros
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  std::string got(2, 'x');
  ASSERT_TRUE((*r)->Read((*r)->tensors()[0], got.data()).ok());
  EXPECT_EQ(got, std::string(2, '\0'));
}

TEST_F(SafetensorsFileTest, WriterGivenTooFewBytesFailsAtFinishAndLeavesNoFile) {
  const std::string path = Path("short.safetensors");
  auto w = SafetensorsWriter::Create(path, {{"w", DType::kF32, {4}}, {"b", DType::kF32, {2}}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string bytes = Pattern(20, 1);  // 24 declared
  ASSERT_TRUE((*w)->Append(bytes.data(), bytes.size()).ok());
  Status s = (*w)->Finish();
  EXPECT_TRUE(FailsWith(s, {path, "20 of 24"}));
  EXPECT_FALSE(FileExists(path));
  w->reset();
  EXPECT_FALSE(FileExists(path));
  // The writer removed its temporary file too: nothing is left.
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(SafetensorsFileTest, WriterGivenTooManyBytesFailsAtAppend) {
  const std::string path = Path("long.safetensors");
  auto w = SafetensorsWriter::Create(path, {{"w", DType::kU8, {4}}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string bytes = Pattern(5, 2);
  EXPECT_TRUE(FailsWith((*w)->Append(bytes.data(), bytes.size()), {path}));
  EXPECT_TRUE(FailsWith((*w)->Skip(5), {path}));
  ASSERT_TRUE((*w)->Append(bytes.data(), 4).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_TRUE(FileExists(path));
}

TEST_F(SafetensorsFileTest, TruncatedFileOnDiskFails) {
  const std::string path = Path("trunc.safetensors");
  const std::string full = MakeFileBytes(
      OneTensor(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"), Pattern(16, 3));
  ASSERT_TRUE(WriteFileAtomically(path, full.substr(0, full.size() - 1)).ok());
  for (ReadMode mode : {ReadMode::kPread, ReadMode::kMmap}) {
    auto r = SafetensorsFile::Open(path, mode);
    EXPECT_TRUE(FailsWith(r.status(), {path, "'w'", "data_offsets", "passes the end"}));
  }
}

TEST_F(SafetensorsFileTest, EmptyFileOnDiskFails) {
  const std::string path = Path("empty.safetensors");
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  for (ReadMode mode : {ReadMode::kPread, ReadMode::kMmap}) {
    EXPECT_TRUE(FailsWith(SafetensorsFile::Open(path, mode).status(), {path, "header length"}));
  }
}

}  // namespace
}  // namespace omnisage

// UTF-8 repair as HF / Python do it, the streaming decoder's hold-back rule, the pre-tokenizer's
// pattern rewrites and the Unicode compatibility tables.
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_compat.h"

namespace omnisage {
namespace {

const std::string kFffd(kReplacementChar);

TEST(Utf8, ScanClassifiesSequences) {
  EXPECT_EQ(ScanUtf8("a", 0).kind, Utf8Kind::kValid);
  EXPECT_EQ(ScanUtf8("\xC3\xA9", 0).length, 2u);
  EXPECT_EQ(ScanUtf8("\xF0\x9F\x98\x80", 0).length, 4u);
  EXPECT_EQ(ScanUtf8("\xF0\x9F\x98", 0).kind, Utf8Kind::kTruncated);
  EXPECT_EQ(ScanUtf8("\xE2\x82", 0).kind, Utf8Kind::kTruncated);
  EXPECT_EQ(ScanUtf8("\xE2\x82x", 0).kind, Utf8Kind::kInvalid);
  EXPECT_EQ(ScanUtf8("\xE2\x82x", 0).length, 2u);
  EXPECT_EQ(ScanUtf8("\x80", 0).kind, Utf8Kind::kInvalid);
  EXPECT_EQ(ScanUtf8("\xC0\xAF", 0).length, 1u);      // overlong lead
  EXPECT_EQ(ScanUtf8("\xED\xA0\x80", 0).length, 1u);  // surrogate: ED must be followed by 80..9F
  EXPECT_EQ(ScanUtf8("\xF4\x90\x80\x80", 0).length, 1u);  // beyond U+10FFFF
}

// Expected strings are Python's bytes.decode("utf-8", errors="replace").
TEST(Utf8, LossyRepairMatchesPython) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "plain"},
      {"\xE2\x82", kFffd},
      {"\xE2\x82\xACx", "\xE2\x82\xACx"},
      {"\xF0\x80\x80", kFffd + kFffd + kFffd},
      {"\xED\xA0\x80", kFffd + kFffd + kFffd},
      {"\xC0\xAF", kFffd + kFffd},
      {"a\xF0\x9F\x98(b", "a" + kFffd + "(b"},
      {"\xF0\x9F\x98\xF0\x9F\x98\x80", kFffd + "\xF0\x9F\x98\x80"},
      {"\xFF\xFE", kFffd + kFffd},
      {"\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41", kFffd + kFffd + kFffd + kFffd + "A"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(ToValidUtf8(in), want);
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80 ok"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
}

TEST(Normalizer, Nfc) {
  EXPECT_EQ(ToNfc("e\xCC\x81"), "\xC3\xA9");                     // e + U+0301 -> é
  EXPECT_EQ(ToNfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // jamo -> 가
  EXPECT_EQ(ToNfc("plain ascii"), "plain ascii");
  // U+07FD is unassigned in HF's tables: it stays where it is and does not block NFC around it.
  EXPECT_EQ(ToNfc("a\xDF\xBD\xCC\x81"), "a\xDF\xBD\xCC\x81");
  EXPECT_EQ(ToNfc("e\xCC\x81\xDF\xBD"
                  "e\xCC\x81"),
            "\xC3\xA9\xDF\xBD\xC3\xA9");
}

TEST(PreTokenizer, RewritesMatchOniguruma) {
  EXPECT_EQ(RewritePatternForPcre2("(?i:'s|'t)"), "(?:'[sS]|'[tT])");
  const std::string p = RewritePatternForPcre2(R"(\s+(?!\S)|[^\s\p{L}]+)");
  EXPECT_EQ(p.find("\\s"), std::string::npos) << p;
  EXPECT_EQ(p.find("\\S"), std::string::npos) << p;
  EXPECT_NE(p.find("\\x{85}"), std::string::npos) << p;
  EXPECT_NE(p.find("[^\\x{09}"), std::string::npos) << p;
}

TEST(PreTokenizer, SplitsLikeQwen) {
  auto pre = PreTokenizer::Create(kQwenSplitPattern, "test");
  ASSERT_TRUE(pre.ok()) << pre.status().ToString();
  auto split = [&](std::string_view text) {
    std::vector<std::pair<size_t, size_t>> pieces;
    (*pre)->Split(text, &pieces);
    std::vector<std::string> out;
    for (auto [b, e] : pieces) out.emplace_back(text.substr(b, e - b));
    return out;
  };
  EXPECT_EQ(split("I'm 123 ok!!\n\n  x"),
            (std::vector<std::string>{"I", "'m", " ", "1", "2", "3", " ok", "!!\n\n", " ", " x"}));
  EXPECT_EQ(split("'S 'ſ"), (std::vector<std::string>{"'S", " '", "ſ"}));
  EXPECT_EQ(split(""), std::vector<std::string>{});
}

TEST(UnicodeCompat, TablesAreSortedAndDisjoint) {
  for (auto table : {LettersSinceUnicode14(), NumbersSinceUnicode14(), NfcOpaqueSinceUnicode9()}) {
    ASSERT_FALSE(table.empty());
    for (size_t i = 0; i < table.size(); ++i) {
      EXPECT_LE(table[i].first, table[i].last);
      if (i > 0) {
        EXPECT_LT(table[i - 1].last, table[i].first);
      }
    }
    for (const CodePointRange& r : table) {
      EXPECT_TRUE(InRanges(table, r.first));
      EXPECT_TRUE(InRanges(table, r.last));
      EXPECT_FALSE(InRanges(table, r.first - 1) && !InRanges(table, r.first - 1));
    }
  }
  EXPECT_TRUE(InRanges(NfcOpaqueSinceUnicode9(), 0x11930));
  EXPECT_FALSE(InRanges(NfcOpaqueSinceUnicode9(), 0x11931));
  EXPECT_FALSE(InRanges(NfcOpaqueSinceUnicode9(), 0x41));
}

}  // namespace
}  // namespace omnisage

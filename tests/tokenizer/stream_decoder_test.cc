// StreamDecoder's rule on hand-made byte streams: hold back an incomplete character, replace what
// can never become one, and settle the bytes before an added token.
#include "tokenizer/stream_decoder.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

const std::string kFffd(kReplacementChar);

// A byte-level BPE over the 256 bytes only, plus two added tokens: every id below 256 is one raw
// byte, so tests can feed any byte sequence.
const Tokenizer& ByteTokenizer() {
  static std::unique_ptr<Tokenizer> tok = [] {
    nlohmann::json j;
    j["model"] = {
        {"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", nlohmann::json::array()}};
    for (int b = 0; b < 256; ++b) {
      j["model"]["vocab"][std::string(ByteLevelChar(static_cast<uint8_t>(b)))] = b;
    }
    j["added_tokens"] = {{{"id", 256}, {"content", "<s>"}, {"special", true}},
                         {{"id", 257}, {"content", "<t>"}, {"special", false}}};
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    j["decoder"] = {{"type", "ByteLevel"}};
    auto t = Tokenizer::FromJson(j.dump(), "bytes.json");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(*t);
  }();
  return *tok;
}

std::vector<std::string> Pushes(StreamDecoder& d, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(d.Push(id));
  return out;
}

TEST(StreamDecoder, HoldsBackIncompleteCharacters) {
  const Tokenizer& tok = ByteTokenizer();
  ASSERT_EQ(tok.TokenBytes(0xF0), "\xF0");
  StreamDecoder d(tok);
  // 😀 = F0 9F 98 80, one byte at a time: nothing until the last byte.
  EXPECT_EQ(Pushes(d, {'a', 0xF0, 0x9F, 0x98, 0x80, 'b'}),
            (std::vector<std::string>{"a", "", "", "", "\xF0\x9F\x98\x80", "b"}));
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_EQ(d.Flush(), "");
}

TEST(StreamDecoder, ReplacesBytesThatCanNeverComplete) {
  StreamDecoder d(ByteTokenizer());
  // E2 82 then 'x': the pair can no longer complete -> one U+FFFD, then x.
  EXPECT_EQ(Pushes(d, {0xE2, 0x82, 'x', 0x80, 0xFF}),
            (std::vector<std::string>{"", "", kFffd + "x", kFffd, kFffd}));
  // A truncated character at the end of the stream.
  EXPECT_EQ(Pushes(d, {0xF0, 0x9F}), (std::vector<std::string>{"", ""}));
  EXPECT_EQ(d.pending_bytes(), 2u);
  EXPECT_EQ(d.Flush(), kFffd);
  EXPECT_EQ(d.pending_bytes(), 0u);
}

TEST(StreamDecoder, AddedTokensSettleWhatCameBefore) {
  const Tokenizer& tok = ByteTokenizer();
  StreamDecoder d(tok);
  // C3 cannot complete before "<s>"; a lone A9 after it can never start a character.
  EXPECT_EQ(Pushes(d, {0xC3, 256, 0xA9}), (std::vector<std::string>{"", kFffd + "<s>", kFffd}));
  EXPECT_EQ(d.Flush(), "");
  StreamDecoder skip(tok, /*skip_special=*/true);
  // A skipped special token does not interrupt the bytes around it, as in Decode.
  EXPECT_EQ(Pushes(skip, {0xC3, 256, 0xA9, 257}),
            (std::vector<std::string>{"", "", "\xC3\xA9", "<t>"}));
  EXPECT_EQ(tok.Decode({0xC3, 256, 0xA9, 257}, true), "\xC3\xA9<t>");
  EXPECT_EQ(tok.Decode({0xC3, 256, 0xA9}), kFffd + "<s>" + kFffd);
}

}  // namespace
}  // namespace omnisage

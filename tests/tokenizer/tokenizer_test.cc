// The tokenizer against HF tokenizers' golden ids (tests/golden/tokenizer, made by
// tools/reference/make_tokenizer_fixtures.py), decode round trips, streaming decode, added tokens,
// the chat template's token structure, and loading errors.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "source_paths.h"
#include "test_tokenizers.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

using testing::GoldenCase;
using testing::TestTokenizer;

const std::string kSource = ::omnisage::test_paths::SourceDir();

// Built once per process: parsing the 11 MB tokenizer.json takes a moment.
const Tokenizer& Get(TestTokenizer which) {
  static std::unique_ptr<Tokenizer> cache[2];
  std::unique_ptr<Tokenizer>& t = cache[static_cast<int>(which)];
  if (t == nullptr) {
    auto json = testing::MakeTokenizerJson(kSource + "/data", which);
    EXPECT_TRUE(json.ok()) << json.status().ToString();
    if (!json.ok()) std::abort();
    auto tok = Tokenizer::FromJson(*json, "test tokenizer.json");
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    if (!tok.ok()) std::abort();
    t = std::move(*tok);
  }
  return *t;
}

const std::vector<GoldenCase>& Golden(TestTokenizer which) {
  static std::vector<GoldenCase> cache[2];
  std::vector<GoldenCase>& g = cache[static_cast<int>(which)];
  if (g.empty()) {
    const char* name = which == TestTokenizer::kQwen3Omni ? "qwen3_omni.jsonl" : "tiny.jsonl";
    auto read = testing::ReadGolden(kSource + "/tests/golden/tokenizer/" + name);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (read.ok()) g = std::move(*read);
  }
  return g;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return "[" + out + "]";
}

void ExpectGoldenIds(TestTokenizer which, size_t min_cases) {
  const Tokenizer& tok = Get(which);
  const std::vector<GoldenCase>& golden = Golden(which);
  ASSERT_GE(golden.size(), min_cases);
  size_t matched = 0;
  for (const GoldenCase& c : golden) {
    const std::vector<int32_t> ids = tok.Encode(c.text);
    if (ids == c.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << "line " << c.line << ": " << nlohmann::json(c.text).dump()
                    << "\n  HF:   " << Ids(c.ids) << "\n  ours: " << Ids(ids);
    }
  }
  std::printf("%zu of %zu golden strings encode to HF's ids\n", matched, golden.size());
  EXPECT_EQ(matched, golden.size());
}

TEST(TokenizerGolden, Qwen3OmniMatchesHf) { ExpectGoldenIds(TestTokenizer::kQwen3Omni, 2000); }

TEST(TokenizerGolden, TinyMatchesHf) { ExpectGoldenIds(TestTokenizer::kTiny, 200); }

TEST(TokenizerGolden, DecodeOfEncodeIsTheNfcText) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  for (const GoldenCase& c : Golden(TestTokenizer::kQwen3Omni)) {
    EXPECT_EQ(tok.Decode(tok.Encode(c.text)), c.decoded) << "line " << c.line;
    EXPECT_EQ(tok.Decode(c.ids), c.decoded) << "line " << c.line;
  }
}

TEST(TokenizerGolden, StreamingDecodeEqualsFullDecode) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  for (bool skip : {false, true}) {
    for (const GoldenCase& c : Golden(TestTokenizer::kQwen3Omni)) {
      StreamDecoder stream(tok, skip);
      std::string text;
      for (int32_t id : c.ids) {
        const std::string piece = stream.Push(id);
        ASSERT_TRUE(IsValidUtf8(piece)) << "line " << c.line;
        text += piece;
        ASSERT_LE(stream.pending_bytes(), 3u);
      }
      text += stream.Flush();
      EXPECT_EQ(text, tok.Decode(c.ids, skip)) << "line " << c.line << " skip " << skip;
    }
  }
}

TEST(Tokenizer, AddedTokensAndVocabulary) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  EXPECT_EQ(tok.vocab_size(), 151676);
  const std::pair<const char*, int32_t> expected[] = {
      {"<|endoftext|>", 151643},   {"<|im_start|>", 151644},   {"<|im_end|>", 151645},
      {"<|image_pad|>", 151655},   {"<think>", 151667},        {"</think>", 151668},
      {"<|audio_start|>", 151669}, {"<|audio_end|>", 151670},  {"<tts_pad>", 151671},
      {"<tts_text_bos>", 151672},  {"<tts_text_eod>", 151673}, {"<tts_text_bos_single>", 151674},
      {"<|audio_pad|>", 151675}};
  for (const auto& [content, id] : expected) {
    EXPECT_EQ(tok.TokenId(content), id) << content;
    EXPECT_TRUE(tok.IsAdded(id)) << content;
    EXPECT_EQ(tok.TokenBytes(id), content);
    EXPECT_EQ(tok.Encode(content), std::vector<int32_t>{id}) << content;
    EXPECT_EQ(tok.Encode(std::string("x") + content + "y"),
              (std::vector<int32_t>{tok.TokenId("x"), id, tok.TokenId("y")}));
  }
  EXPECT_TRUE(tok.IsSpecial(151644));
  EXPECT_TRUE(tok.IsSpecial(151675));
  EXPECT_FALSE(tok.IsSpecial(151667));  // <think> is an added token but not special in Qwen3
  EXPECT_FALSE(tok.IsSpecial(872));
  EXPECT_FALSE(tok.IsAdded(872));
  // Plain BPE ids the generation glue uses (spec §2), in byte-level spelling.
  EXPECT_EQ(tok.TokenId("system"), 8948);
  EXPECT_EQ(tok.TokenId("user"), 872);
  EXPECT_EQ(tok.TokenId("assistant"), 77091);
  EXPECT_EQ(tok.TokenId("Ċ"), 198);
  EXPECT_EQ(tok.TokenBytes(198), "\n");
  EXPECT_EQ(tok.TokenId("no such token"), -1);
  EXPECT_EQ(tok.TokenBytes(-1), "");
  EXPECT_EQ(tok.TokenBytes(200000), "");
}

TEST(Tokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  const std::vector<int32_t> ids = tok.Encode("<|im_start|>user\nhi<think>x</think><|im_end|>");
  EXPECT_EQ(tok.Decode(ids), "<|im_start|>user\nhi<think>x</think><|im_end|>");
  EXPECT_EQ(tok.Decode(ids, /*skip_special=*/true), "user\nhi<think>x</think>");
  // Unknown ids are skipped, as HF does.
  EXPECT_EQ(tok.Decode({872, -5, 999999, 198}), "user\n");
}

TEST(Tokenizer, EmptyAndInvalidUtf8Input) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  EXPECT_TRUE(tok.Encode("").empty());
  EXPECT_EQ(tok.Decode({}), "");
  const std::string bad = "a\xC3(b\xE2\x82\xF0\x9F\x98";
  EXPECT_EQ(tok.Encode(bad), tok.Encode(ToValidUtf8(bad)));
  EXPECT_EQ(tok.Decode(tok.Encode(bad)), "a\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Tokenizer, LongRunsRoundTrip) {
  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  const std::string runs[] = {std::string(1 << 20, ' '), std::string(1 << 20, 'a'),
                              std::string(1 << 18, '\n'), std::string(1 << 18, '7'),
                              std::string(1 << 18, '!')};
  for (const std::string& s : runs) {
    const std::vector<int32_t> ids = tok.Encode(s);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok.Decode(ids), s);
  }
  std::string mixed;
  for (int i = 0; i < 20000; ++i) mixed += "word \t\n  42 ¿qué? 😀  ";
  EXPECT_EQ(tok.Decode(tok.Encode(mixed)), mixed);
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  auto json = testing::MakeTokenizerJson(kSource + "/data", TestTokenizer::kQwen3Omni);
  ASSERT_TRUE(json.ok());
  // A fresh tokenizer, so that the threads race to fill the same empty cache.
  auto tok = Tokenizer::FromJson(*json, "tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const std::vector<GoldenCase>& golden = Golden(TestTokenizer::kQwen3Omni);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < golden.size(); ++i) {
        const GoldenCase& c = golden[(i * 7 + t * 131) % golden.size()];
        if ((*tok)->Encode(c.text) != c.ids) ++mismatches;
        if ((*tok)->Decode(c.ids) != c.decoded) ++mismatches;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, WithoutCacheSameIds) {
  auto json = testing::MakeTokenizerJson(kSource + "/data", TestTokenizer::kTiny);
  ASSERT_TRUE(json.ok());
  auto tok = Tokenizer::FromJson(*json, "tokenizer.json", {.cache_capacity = 0});
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  for (const GoldenCase& c : Golden(TestTokenizer::kTiny)) {
    EXPECT_EQ((*tok)->Encode(c.text), c.ids) << "line " << c.line;
  }
}

TEST(Tokenizer, TinyRenumberedSpecials) {
  const Tokenizer& tok = Get(TestTokenizer::kTiny);
  EXPECT_EQ(tok.vocab_size(), 4033);
  EXPECT_EQ(tok.TokenId("<|im_start|>"), 4001);
  EXPECT_EQ(tok.TokenId("<|im_end|>"), 4002);
  EXPECT_EQ(tok.TokenId("<|audio_pad|>"), 4032);
  EXPECT_EQ(tok.Encode("<|im_start|>user\nhi<|im_end|>").front(), 4001);
}

// ChatML (spec §9): a two-turn conversation, its exact text, and the token structure.
TEST(ChatTemplate, TwoTurnConversation) {
  const std::vector<ChatMessage> messages = {
      {"system", "You are a helpful assistant."},
      {"user", "What is 2+2?"},
      {"assistant", "4."},
      {"user", "And 3+3?"},
  };
  auto text = RenderChat(messages);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4.<|im_end|>\n"
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
            "<|im_start|>assistant\n");
  auto no_prompt = RenderChat(messages, /*add_generation_prompt=*/false);
  ASSERT_TRUE(no_prompt.ok());
  EXPECT_EQ(*no_prompt + "<|im_start|>assistant\n", *text);

  const Tokenizer& tok = Get(TestTokenizer::kQwen3Omni);
  const int32_t start = tok.TokenId(kChatStart);
  const int32_t end = tok.TokenId(kChatEnd);
  const int32_t newline = 198;
  EXPECT_EQ(tok.TokenId(kChatStopToken), 151645);
  // Each turn: <|im_start|> role \n content... <|im_end|> \n, then <|im_start|> assistant \n.
  std::vector<int32_t> expected;
  for (const ChatMessage& m : messages) {
    expected.push_back(start);
    expected.push_back(tok.TokenId(m.role));
    expected.push_back(newline);
    const std::vector<int32_t> content = tok.Encode(m.content);
    expected.insert(expected.end(), content.begin(), content.end());
    expected.push_back(end);
    expected.push_back(newline);
  }
  expected.insert(expected.end(), {start, 77091, newline});
  EXPECT_EQ(tok.Encode(*text), expected);
  EXPECT_EQ(tok.Decode(tok.Encode(*text)), *text);
}

TEST(ChatTemplate, UnknownRoleIsAnError) {
  auto text = RenderChat({{"user", "hi"}, {"robot", "beep"}});
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("chat message 1: role 'robot'"), std::string::npos)
      << text.status().message();
}

// Loading: merges as "a b" strings, the vocab.json + merges.txt fallback, and errors that name
// the file and the field.
class TokenizerFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("omnisage_tok_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& contents) {
    std::ofstream(dir_ / name, std::ios::binary) << contents;
  }
  std::string Dir() const { return dir_.string(); }

  std::filesystem::path dir_;
};

TEST_F(TokenizerFilesTest, StringMergesAndFallbackFilesGiveTheSameIds) {
  auto text = testing::MakeTokenizerJson(kSource + "/data", TestTokenizer::kTiny);
  ASSERT_TRUE(text.ok());
  nlohmann::json j = nlohmann::json::parse(*text);
  // 1. tokenizer.json with "a b" merges.
  nlohmann::json string_merges = nlohmann::json::array();
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& m : j["model"]["merges"]) {
    const std::string line = m[0].get<std::string>() + " " + m[1].get<std::string>();
    string_merges.push_back(line);
    merges_txt += line + "\n";
  }
  nlohmann::json with_strings = j;
  with_strings["model"]["merges"] = string_merges;
  Write("tokenizer.json", with_strings.dump());
  auto a = Tokenizer::Load(Dir());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  // 2. vocab.json + merges.txt + tokenizer_config.json's added_tokens_decoder.
  std::filesystem::remove(dir_ / "tokenizer.json");
  Write("vocab.json", j["model"]["vocab"].dump());
  Write("merges.txt", merges_txt);
  nlohmann::json config;
  for (const auto& t : j["added_tokens"]) {
    nlohmann::json entry = t;
    entry.erase("id");
    config["added_tokens_decoder"][std::to_string(t["id"].get<int>())] = entry;
  }
  Write("tokenizer_config.json", config.dump());
  auto b = Tokenizer::Load(Dir());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const GoldenCase& c : Golden(TestTokenizer::kTiny)) {
    EXPECT_EQ((*a)->Encode(c.text), c.ids) << "line " << c.line;
    EXPECT_EQ((*b)->Encode(c.text), c.ids) << "line " << c.line;
  }
}

TEST_F(TokenizerFilesTest, ErrorsNameTheFileAndField) {
  auto missing = Tokenizer::Load(Dir());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  const std::string path = Dir() + "/tokenizer.json";
  struct Case {
    std::string json;
    std::string expected;  // a substring of the message
  };
  const std::string pre =
      R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";
  const Case cases[] = {
      {"{not json", path + ": invalid JSON"},
      {R"({"added_tokens": []})", path + ": model: missing"},
      {R"({"model": {"type": "WordPiece", "vocab": {}}})", path + ": model.type"},
      {R"({"model": {"type": "BPE", "merges": []}})", path + ": model.vocab: missing"},
      {R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})",
       path + ": model.vocab.a"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 99999999}, "merges": []}, )" + pre + "}",
       path + ": token id 99999999 is beyond"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}, )" + pre + "}",
       path + ": model.merges.0"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, )" + pre + "}",
       path + ": model.merges[0]: 'a b': 'b' is not in the vocabulary"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1}], )" +
           pre + "}",
       path + ": added_tokens.0.content: missing"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}, )" +
           pre + "}",
       path + ": normalizer"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}})",
       path + ": pre_tokenizer: split pattern"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})",
       path + ": pre_tokenizer: pre-tokenizer 'Whitespace' is not supported"},
  };
  for (const Case& c : cases) {
    Write("tokenizer.json", c.json);
    auto t = Tokenizer::Load(Dir());
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos)
        << "got: " << t.status().message() << "\nwanted: " << c.expected;
  }
}

}  // namespace
}  // namespace omnisage

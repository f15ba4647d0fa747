#include "test_tokenizers.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "io/file.h"
#include "util/json_fields.h"

namespace omnisage::testing {
namespace {

using nlohmann::json;

constexpr const char* kOmniTokens[] = {"<|audio_start|>", "<|audio_end|>",  "<tts_pad>",
                                       "<tts_text_bos>",  "<tts_text_eod>", "<tts_text_bos_single>",
                                       "<|audio_pad|>"};
constexpr int64_t kFirstOmniId = 151669;
constexpr int64_t kFirstSpecialId = 151643;
constexpr int64_t kTinyBpeTokens = 4000;

}  // namespace

StatusOr<std::string> MakeTokenizerJson(const std::string& data_dir, TestTokenizer which) {
  const std::string path = data_dir + "/qwen3-tokenizer/tokenizer.json";
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  OMNI_ASSIGN_OR_RETURN(json tok, ParseJson(text, path));
  json& added = tok["added_tokens"];
  for (int i = 0; i < 7; ++i) {
    added.push_back({{"id", kFirstOmniId + i},
                     {"content", kOmniTokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  if (which == TestTokenizer::kTiny) {
    json& model = tok["model"];
    json vocab = json::object();
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (it->get<int64_t>() < kTinyBpeTokens) vocab[it.key()] = *it;
    }
    model["vocab"] = std::move(vocab);
    json merges = json::array();
    for (int64_t i = 0; i < kTinyBpeTokens - 256; ++i) merges.push_back(model["merges"][i]);
    model["merges"] = std::move(merges);
    for (json& t : added) {
      t["id"] = kTinyBpeTokens + (t["id"].get<int64_t>() - kFirstSpecialId);
    }
  }
  return tok.dump();
}

StatusOr<std::vector<GoldenCase>> ReadGolden(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::vector<GoldenCase> out;
  size_t pos = 0;
  for (int line_no = 1; pos < text.size(); ++line_no) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) continue;
    const std::string where = fmt::format("{}: line {}", path, line_no);
    OMNI_ASSIGN_OR_RETURN(json j, ParseJson(line, where));
    GoldenCase c;
    c.line = line_no;
    OMNI_ASSIGN_OR_RETURN(c.text, GetString(j, "text", JsonPath(where)));
    OMNI_ASSIGN_OR_RETURN(std::vector<int64_t> ids, GetIntArray(j, "ids", JsonPath(where)));
    c.ids.assign(ids.begin(), ids.end());
    c.decoded = c.text;
    if (j.contains("decoded")) {
      OMNI_ASSIGN_OR_RETURN(c.decoded, GetString(j, "decoded", JsonPath(where)));
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace omnisage::testing

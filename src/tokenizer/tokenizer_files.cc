#include "tokenizer/tokenizer_files.h"

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "io/file.h"
#include "tokenizer/pre_tokenizer.h"
#include "util/json_fields.h"

namespace omnisage {
namespace {

using nlohmann::json;

// GPT-2's pattern, which ByteLevel(use_regex = true) applies.
constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

StatusOr<int32_t> AsId(const json& v, const JsonPath& at) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
      v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
    return at.Error(fmt::format("expected a token id, got {}", v.dump()));
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

StatusOr<std::unordered_map<std::string, int32_t>> ReadVocab(const json& vocab,
                                                             const JsonPath& at) {
  if (!vocab.is_object()) return at.Error("expected an object of token -> id");
  std::unordered_map<std::string, int32_t> out;
  out.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    OMNI_ASSIGN_OR_RETURN(int32_t id, AsId(it.value(), at.Child(it.key())));
    out.emplace(it.key(), id);
  }
  return out;
}

// "a b" -> {a, b}: exactly one space, as HF requires.
bool SplitMergeLine(std::string_view line, BpeMerge* merge) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
    return false;
  }
  merge->left = std::string(line.substr(0, space));
  merge->right = std::string(line.substr(space + 1));
  return !merge->left.empty() && !merge->right.empty();
}

StatusOr<std::vector<BpeMerge>> ReadMerges(const json& merges, const JsonPath& at) {
  if (!merges.is_array()) return at.Error("expected an array");
  std::vector<BpeMerge> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    BpeMerge merge;
    if (m.is_string()) {
      if (!SplitMergeLine(m.get_ref<const std::string&>(), &merge)) {
        return at.Child(std::to_string(i)).Error(fmt::format("expected \"a b\", got {}", m.dump()));
      }
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merge.left = m[0].get<std::string>();
      merge.right = m[1].get<std::string>();
    } else {
      return at.Child(std::to_string(i))
          .Error(fmt::format("expected [\"a\", \"b\"] or \"a b\", got {}", m.dump()));
    }
    out.push_back(std::move(merge));
  }
  return out;
}

StatusOr<AddedToken> ReadAddedToken(const json& entry, std::optional<int32_t> id,
                                    const JsonPath& at) {
  if (!entry.is_object()) return at.Error("expected an object");
  AddedToken t;
  if (id.has_value()) {
    t.id = *id;
  } else {
    auto it = entry.find("id");
    if (it == entry.end()) return at.Child("id").Error("missing");
    OMNI_ASSIGN_OR_RETURN(t.id, AsId(*it, at.Child("id")));
  }
  OMNI_ASSIGN_OR_RETURN(t.content, GetString(entry, "content", at));
  OMNI_ASSIGN_OR_RETURN(t.special, GetBoolOr(entry, "special", at, false));
  OMNI_ASSIGN_OR_RETURN(t.lstrip, GetBoolOr(entry, "lstrip", at, false));
  OMNI_ASSIGN_OR_RETURN(t.rstrip, GetBoolOr(entry, "rstrip", at, false));
  OMNI_ASSIGN_OR_RETURN(t.single_word, GetBoolOr(entry, "single_word", at, false));
  OMNI_ASSIGN_OR_RETURN(t.normalized, GetBoolOr(entry, "normalized", at, !t.special));
  if (t.content.empty()) return at.Child("content").Error("empty");
  return t;
}

Status ReadNormalizer(const json& root, const JsonPath& at, TokenizerDefinition* def) {
  auto it = root.find("normalizer");
  if (it == root.end() || it->is_null()) {
    def->nfc = false;
    return Status::Ok();
  }
  const JsonPath here = at.Child("normalizer");
  OMNI_ASSIGN_OR_RETURN(std::string type, GetString(*it, "type", here));
  if (type == "NFC") {
    def->nfc = true;
    return Status::Ok();
  }
  if (type == "Sequence") {
    auto list = it->find("normalizers");
    if (list != it->end() && list->is_array() && list->empty()) {
      def->nfc = false;
      return Status::Ok();
    }
    if (list != it->end() && list->is_array() && list->size() == 1) {
      OMNI_ASSIGN_OR_RETURN(std::string inner,
                            GetString((*list)[0], "type", here.Child("normalizers").Child("0")));
      if (inner == "NFC") {
        def->nfc = true;
        return Status::Ok();
      }
    }
  }
  return Unimplemented(
      fmt::format("{}: {} is not supported (only NFC or none)", here.ToString(), it->dump()));
}

Status ReadPreTokenizer(const json& root, const JsonPath& at, TokenizerDefinition* def) {
  auto it = root.find("pre_tokenizer");
  const JsonPath here = at.Child("pre_tokenizer");
  if (it == root.end() || it->is_null()) {
    return Unimplemented(
        fmt::format("{}: missing; only byte-level BPE is supported", here.ToString()));
  }
  std::vector<std::pair<const json*, JsonPath>> steps;
  OMNI_ASSIGN_OR_RETURN(std::string type, GetString(*it, "type", here));
  if (type == "Sequence") {
    auto list = it->find("pretokenizers");
    if (list == it->end() || !list->is_array()) {
      return here.Child("pretokenizers").Error("expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      steps.emplace_back(&(*list)[i], here.Child("pretokenizers").Child(std::to_string(i)));
    }
  } else {
    steps.emplace_back(&*it, here);
  }
  bool have_split = false;
  bool byte_level = false;
  for (const auto& [step, path] : steps) {
    OMNI_ASSIGN_OR_RETURN(std::string step_type, GetString(*step, "type", path));
    if (step_type == "Split" && !have_split && !byte_level) {
      OMNI_ASSIGN_OR_RETURN(const json* pattern, GetObject(*step, "pattern", path));
      OMNI_ASSIGN_OR_RETURN(std::string behavior, GetString(*step, "behavior", path));
      OMNI_ASSIGN_OR_RETURN(bool invert, GetBoolOr(*step, "invert", path, false));
      if (behavior != "Isolated" || invert) {
        return Unimplemented(fmt::format("{}: behavior '{}'{} is not supported (only Isolated)",
                                         path.ToString(), behavior, invert ? ", inverted" : ""));
      }
      if (pattern->contains("Regex")) {
        OMNI_ASSIGN_OR_RETURN(def->split_pattern,
                              GetString(*pattern, "Regex", path.Child("pattern")));
      } else {
        OMNI_ASSIGN_OR_RETURN(std::string literal,
                              GetString(*pattern, "String", path.Child("pattern")));
        def->split_pattern = "\\Q" + literal + "\\E";
      }
      have_split = true;
    } else if (step_type == "ByteLevel" && !byte_level) {
      OMNI_ASSIGN_OR_RETURN(bool prefix_space, GetBoolOr(*step, "add_prefix_space", path, true));
      OMNI_ASSIGN_OR_RETURN(bool use_regex, GetBoolOr(*step, "use_regex", path, true));
      if (prefix_space) {
        return Unimplemented(fmt::format("{}: add_prefix_space is not supported", path.ToString()));
      }
      if (use_regex) {
        if (have_split) {
          return Unimplemented(fmt::format(
              "{}: a Split followed by ByteLevel(use_regex) is not supported", path.ToString()));
        }
        def->split_pattern = std::string(kGpt2SplitPattern);
        have_split = true;
      }
      byte_level = true;
    } else {
      return Unimplemented(fmt::format(
          "{}: pre-tokenizer '{}' is not supported here (expected Split then ByteLevel)",
          path.ToString(), step_type));
    }
  }
  if (!byte_level) {
    return Unimplemented(
        fmt::format("{}: no ByteLevel step; only byte-level BPE is supported", here.ToString()));
  }
  if (!have_split) def->split_pattern.clear();  // the whole text is one piece
  return Status::Ok();
}

Status CheckModel(const json& model, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(std::string type, GetString(model, "type", at));
  if (type != "BPE") {
    return Unimplemented(fmt::format("{}: model type '{}' is not supported (only BPE)",
                                     at.Child("type").ToString(), type));
  }
  OMNI_ASSIGN_OR_RETURN(bool byte_fallback, GetBoolOr(model, "byte_fallback", at, false));
  if (byte_fallback) {
    return Unimplemented(fmt::format("{}: not supported", at.Child("byte_fallback").ToString()));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      return Unimplemented(fmt::format("{}: not supported", at.Child(key).ToString()));
    }
  }
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() &&
      !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    return Unimplemented(
        fmt::format("{}: BPE dropout is not supported", at.Child("dropout").ToString()));
  }
  return Status::Ok();
}

StatusOr<TokenizerDefinition> ReadVocabAndMerges(const std::string& dir) {
  TokenizerDefinition def;
  const std::string vocab_path = dir + "/vocab.json";
  const std::string merges_path = dir + "/merges.txt";
  def.source = vocab_path;
  OMNI_ASSIGN_OR_RETURN(std::string vocab_text, ReadFileToString(vocab_path));
  OMNI_ASSIGN_OR_RETURN(json vocab, ParseJson(vocab_text, vocab_path));
  OMNI_ASSIGN_OR_RETURN(def.vocab, ReadVocab(vocab, JsonPath(vocab_path)));
  OMNI_ASSIGN_OR_RETURN(std::string merges_text, ReadFileToString(merges_path));
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < merges_text.size()) {
    size_t eol = merges_text.find('\n', pos);
    if (eol == std::string::npos) eol = merges_text.size();
    std::string_view line(merges_text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    BpeMerge merge;
    if (!SplitMergeLine(line, &merge)) {
      return InvalidArgument(fmt::format("{}: line {}: expected two tokens separated by one space",
                                         merges_path, line_no));
    }
    def.merges.push_back(std::move(merge));
  }
  const std::string config_path = dir + "/tokenizer_config.json";
  if (FileExists(config_path)) {
    OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path));
    OMNI_ASSIGN_OR_RETURN(json config, ParseJson(text, config_path));
    const JsonPath at = JsonPath(config_path).Child("added_tokens_decoder");
    auto decoder = config.find("added_tokens_decoder");
    if (decoder != config.end() && decoder->is_object()) {
      for (auto it = decoder->begin(); it != decoder->end(); ++it) {
        int64_t id = -1;
        try {
          size_t used = 0;
          id = std::stoll(it.key(), &used);
          if (used != it.key().size()) id = -1;
        } catch (const std::exception&) {
          id = -1;
        }
        if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
          return at.Child(it.key()).Error("the key is not a token id");
        }
        OMNI_ASSIGN_OR_RETURN(
            AddedToken t, ReadAddedToken(it.value(), static_cast<int32_t>(id), at.Child(it.key())));
        def.added_tokens.push_back(std::move(t));
      }
    }
  }
  def.split_pattern = std::string(kQwenSplitPattern);
  def.nfc = true;
  return def;
}

}  // namespace

StatusOr<TokenizerDefinition> ParseTokenizerJson(std::string_view text, std::string_view source) {
  TokenizerDefinition def;
  def.source = std::string(source);
  OMNI_ASSIGN_OR_RETURN(json root, ParseJson(text, source));
  const JsonPath at(def.source);
  if (!root.is_object()) return at.Error("expected a JSON object");
  OMNI_ASSIGN_OR_RETURN(const json* model, GetObject(root, "model", at));
  OMNI_RETURN_IF_ERROR(CheckModel(*model, at.Child("model")));
  {
    auto vocab = model->find("vocab");
    if (vocab == model->end()) return at.Child("model").Child("vocab").Error("missing");
    OMNI_ASSIGN_OR_RETURN(def.vocab, ReadVocab(*vocab, at.Child("model").Child("vocab")));
  }
  {
    auto merges = model->find("merges");
    if (merges == model->end()) return at.Child("model").Child("merges").Error("missing");
    OMNI_ASSIGN_OR_RETURN(def.merges, ReadMerges(*merges, at.Child("model").Child("merges")));
  }
  auto added = root.find("added_tokens");
  if (added != root.end() && !added->is_null()) {
    const JsonPath here = at.Child("added_tokens");
    if (!added->is_array()) return here.Error("expected an array");
    for (size_t i = 0; i < added->size(); ++i) {
      OMNI_ASSIGN_OR_RETURN(
          AddedToken t, ReadAddedToken((*added)[i], std::nullopt, here.Child(std::to_string(i))));
      def.added_tokens.push_back(std::move(t));
    }
  }
  OMNI_RETURN_IF_ERROR(ReadNormalizer(root, at, &def));
  OMNI_RETURN_IF_ERROR(ReadPreTokenizer(root, at, &def));
  auto decoder = root.find("decoder");
  if (decoder != root.end() && !decoder->is_null()) {
    OMNI_ASSIGN_OR_RETURN(std::string type, GetString(*decoder, "type", at.Child("decoder")));
    if (type != "ByteLevel") {
      return Unimplemented(fmt::format("{}: decoder '{}' is not supported (only ByteLevel)",
                                       at.Child("decoder").ToString(), type));
    }
  }
  return def;
}

StatusOr<TokenizerDefinition> ReadTokenizerDefinition(const std::string& model_dir) {
  const std::string path = model_dir + "/tokenizer.json";
  if (!FileExists(path)) {
    if (FileExists(model_dir + "/vocab.json")) return ReadVocabAndMerges(model_dir);
    return NotFound(fmt::format("{}: no tokenizer.json (nor vocab.json + merges.txt)", model_dir));
  }
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseTokenizerJson(text, path);
}

}  // namespace omnisage

#include "model/twin.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "io/file.h"

namespace omnisage {

namespace {

// head_dim / 2 frequencies split over (t, h, w) as the real model's 24:20:20 of 64.
std::vector<int64_t> MropeSections(int64_t head_dim) {
  const int64_t half = head_dim / 2;
  const int64_t t = (half * 24 + 32) / 64;
  const int64_t h = (half - t) / 2;
  return {t, h, half - t - h};
}

StatusOr<std::unordered_map<std::string, int64_t>> TokenIds(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(fmt::format("{}: not a JSON object", path));
  }
  std::unordered_map<std::string, int64_t> ids;
  const auto model = j.find("model");
  if (model == j.end() || !model->is_object() || !model->contains("vocab") ||
      !(*model)["vocab"].is_object()) {
    return InvalidArgument(fmt::format("{}: model.vocab: missing or not an object", path));
  }
  for (const auto& [token, id] : (*model)["vocab"].items()) {
    if (!id.is_number_integer()) {
      return InvalidArgument(fmt::format("{}: model.vocab[\"{}\"]: not an integer", path, token));
    }
    ids[token] = id.get<int64_t>();
  }
  if (const auto added = j.find("added_tokens"); added != j.end() && added->is_array()) {
    for (const auto& t : *added) {
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string() ||
          !t.contains("id") || !t["id"].is_number_integer()) {
        return InvalidArgument(fmt::format("{}: added_tokens: an entry lacks content or id", path));
      }
      ids[t["content"].get<std::string>()] = t["id"].get<int64_t>();
    }
  }
  return ids;
}

}  // namespace

StatusOr<ModelConfig> TwinConfig(const ModelConfig& preset, const ModelConfig& source,
                                 const std::string& source_name) {
  if (source.arch != Arch::kQwen3Moe) {
    return InvalidArgument(
        fmt::format("{}: model_type: the thinker source must be a qwen3_moe checkpoint, not {}",
                    source_name, source.model_type));
  }
  if (preset.arch != Arch::kQwen3OmniMoe) {
    return InvalidArgument("the twin of a thinker is a qwen3_omni_moe checkpoint");
  }
  if (source.text.vocab_size > preset.text.vocab_size) {
    return InvalidArgument(fmt::format(
        "{}: vocab_size: {} is larger than the preset's vocabulary ({}), whose special tokens "
        "would collide with the source's ids",
        source_name, source.text.vocab_size, preset.text.vocab_size));
  }
  ModelConfig m = preset;
  m.text = source.text;
  m.text.mrope_section = MropeSections(source.text.head_dim);
  m.text.mrope_interleaved = true;
  const int64_t hidden = source.text.hidden_size;
  m.audio.output_dim = hidden;
  m.vision.out_hidden_size = hidden;
  m.talker.thinker_hidden_size = hidden;
  return m;
}

std::string TwinSourceName(std::string_view twin_name) {
  constexpr std::string_view kThinker = "thinker.";
  if (!twin_name.starts_with(kThinker)) return "";
  const std::string_view rest = twin_name.substr(kThinker.size());
  if (rest.starts_with("model.") || rest == "lm_head.weight") return std::string(rest);
  return "";
}

Status CheckTwinTokenizer(const std::string& source_tokenizer_json,
                          const std::string& twin_tokenizer_json) {
  OMNI_ASSIGN_OR_RETURN(auto source, TokenIds(source_tokenizer_json));
  OMNI_ASSIGN_OR_RETURN(auto twin, TokenIds(twin_tokenizer_json));
  for (const auto& [token, id] : source) {
    const auto it = twin.find(token);
    if (it == twin.end() || it->second != id) {
      return InvalidArgument(fmt::format(
          "{}: token {:?} has id {}, but {} {}", source_tokenizer_json, token, id,
          twin_tokenizer_json,
          it == twin.end() ? std::string("lacks it") : fmt::format("gives it id {}", it->second)));
    }
  }
  return Status::Ok();
}

}  // namespace omnisage

#include "model/synth_tokenizer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "io/file.h"
#include "io/file_system.h"
#include "util/json_fields.h"

namespace omnisage {

// Plain (sorted) json: ordered_json looks keys up linearly, which is quadratic on a 151k-entry
// vocab.
using ordered_json = nlohmann::json;

namespace {

// Qwen3-Omni's added tokens beyond Qwen3's, in id order from 151669.
constexpr const char* kOmniTokens[] = {"<|audio_start|>", "<|audio_end|>",  "<tts_pad>",
                                       "<tts_text_bos>",  "<tts_text_eod>", "<tts_text_bos_single>",
                                       "<|audio_pad|>"};
constexpr int64_t kFirstOmniId = 151669;

StatusOr<ordered_json> ReadJson(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  try {
    return ordered_json::parse(text);
  } catch (const std::exception& e) {
    return InvalidArgument(fmt::format("{}: invalid JSON: {}", path, e.what()));
  }
}

}  // namespace

Status WritePresetTokenizer(const std::string& source_dir, Preset preset, Arch arch,
                            const std::string& out_dir) {
  const std::string tok_path = source_dir + "/tokenizer.json";
  const std::string cfg_path = source_dir + "/tokenizer_config.json";
  OMNI_ASSIGN_OR_RETURN(ordered_json tok, ReadJson(tok_path));
  OMNI_ASSIGN_OR_RETURN(ordered_json cfg, ReadJson(cfg_path));
  if (!tok.contains("added_tokens") || !tok["added_tokens"].is_array()) {
    return InvalidArgument(fmt::format("{}: added_tokens: missing", tok_path));
  }
  if (!cfg.contains("added_tokens_decoder") || !cfg["added_tokens_decoder"].is_object()) {
    return InvalidArgument(fmt::format("{}: added_tokens_decoder: missing", cfg_path));
  }
  ordered_json& added = tok["added_tokens"];
  ordered_json& decoder = cfg["added_tokens_decoder"];
  if (arch == Arch::kQwen3OmniMoe) {
    for (int i = 0; i < 7; ++i) {
      const int64_t id = kFirstOmniId + i;
      if (decoder.contains(std::to_string(id))) continue;
      ordered_json entry = {{"id", id},        {"content", kOmniTokens[i]}, {"single_word", false},
                            {"lstrip", false}, {"rstrip", false},           {"normalized", false},
                            {"special", true}};
      added.push_back(entry);
      ordered_json dec = entry;
      dec.erase("id");
      decoder[std::to_string(id)] = dec;
    }
  }
  if (preset == Preset::kTiny) {
    ordered_json& model = tok["model"];
    if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges") ||
        !model["merges"].is_array()) {
      return InvalidArgument(fmt::format("{}: model: expected a BPE vocab and merges", tok_path));
    }
    ordered_json vocab = ordered_json::object();
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (it->get<int64_t>() < kTinyBpeTokens) vocab[it.key()] = *it;
    }
    model["vocab"] = std::move(vocab);
    ordered_json merges = ordered_json::array();
    for (int64_t i = 0;
         i < kTinyBpeTokens - 256 && i < static_cast<int64_t>(model["merges"].size()); ++i) {
      merges.push_back(model["merges"][i]);
    }
    model["merges"] = std::move(merges);
    for (ordered_json& entry : added) {
      entry["id"] = PresetSpecialId(preset, entry["id"].get<int64_t>());
    }
    ordered_json renumbered = ordered_json::object();
    for (auto it = decoder.begin(); it != decoder.end(); ++it) {
      renumbered[std::to_string(PresetSpecialId(preset, std::stoll(it.key())))] = *it;
    }
    decoder = std::move(renumbered);
  }
  OMNI_RETURN_IF_ERROR(WriteFileAtomically(out_dir + "/tokenizer.json", tok.dump()));
  return WriteFileAtomically(out_dir + "/tokenizer_config.json", cfg.dump(2));
}

}  // namespace omnisage

#include "model/twin.h"

#include <fmt/format.h>

#include <memory>

#include "io/file.h"
#include "tokenizer/tokenizer.h"

namespace omnisage {

namespace {

// head_dim / 2 frequencies split over (t, h, w) as the real model's 24:20:20 of 64.
std::vector<int64_t> MropeSections(int64_t head_dim) {
  const int64_t half = head_dim / 2;
  const int64_t t = (half * 24 + 32) / 64;
  const int64_t h = (half - t) / 2;
  return {t, h, half - t - h};
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
  const auto load = [](const std::string& path) -> StatusOr<std::unique_ptr<Tokenizer>> {
    OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    return Tokenizer::FromJson(text, path);
  };
  OMNI_ASSIGN_OR_RETURN(auto source, load(source_tokenizer_json));
  OMNI_ASSIGN_OR_RETURN(auto twin, load(twin_tokenizer_json));
  for (int32_t id = 0; id < source->vocab_size(); ++id) {
    const std::string_view token = source->TokenBytes(id);
    if (token.empty()) continue;  // an unused id
    if (twin->TokenBytes(id) != token || twin->IsAdded(id) != source->IsAdded(id)) {
      return InvalidArgument(fmt::format("{}: token {:?} has id {}, but {} gives it id {}",
                                         source_tokenizer_json, token, id, twin_tokenizer_json,
                                         twin->TokenId(token)));
    }
  }
  return Status::Ok();
}

}  // namespace omnisage

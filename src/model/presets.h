// Model configurations the generator can write: `tiny` (unit tests), `small` (the thinker's real
// per-layer dimensions, few layers; benchmarks) and `full` (exactly the real model's shapes).
#pragma once

#include <string>
#include <string_view>

#include "model/config.h"
#include "util/status.h"

namespace omnisage {

enum class Preset { kTiny, kSmall, kFull };

StatusOr<Preset> ParsePreset(std::string_view name);
std::string_view PresetName(Preset p);

// For qwen3_omni_moe, `full` is Qwen3-Omni-30B-A3B; for qwen3_moe it is Qwen3-30B-A3B.
ModelConfig PresetConfig(Preset preset, Arch arch);

// Thinker vocabulary layout. The real presets use the Qwen3 ids (first special 151643). `tiny`
// keeps the first kTinyBpeTokens byte-level BPE tokens and renumbers the specials after them.
inline constexpr int64_t kQwenFirstSpecialId = 151643;
inline constexpr int64_t kTinyBpeTokens = 4000;
// The id of the special token that has id `real_id` in the full Qwen3-Omni vocabulary.
int64_t PresetSpecialId(Preset preset, int64_t real_id);

}  // namespace omnisage

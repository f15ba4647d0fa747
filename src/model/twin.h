// The Qwen3-Omni twin of a Qwen3-MoE checkpoint (`omnisage synth --thinker-from DIR`): a
// qwen3_omni_moe checkpoint whose thinker text model is the source's, tensor for tensor, and whose
// other components (audio and vision towers, talker, code predictor, code2wav) are the preset's,
// generated, with their interfaces sized to the source's hidden size. On text the twin's thinker
// computes exactly what the source computes: the same weights, and (t, h, w) positions that are
// equal for text tokens, so multimodal rotary reduces to the source's 1-D rotary.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "model/config.h"
#include "util/status.h"

namespace omnisage {

// The omni configuration: `preset` (a qwen3_omni_moe preset) with its thinker text model replaced
// by `source.text` (a qwen3_moe config); the multimodal rotary sections split head_dim / 2 in
// the real model's 24:20:20 proportion; the audio tower's output, the vision merger's output and
// the talker's thinker input sized to the source's hidden size. `source_name` (the source's
// config.json) is named in errors: an architecture other than qwen3_moe, or a source vocabulary
// larger than the preset's special-token ids allow, is an InvalidArgument.
StatusOr<ModelConfig> TwinConfig(const ModelConfig& preset, const ModelConfig& source,
                                 const std::string& source_name);

// The source tensor of twin tensor `twin_name` ("thinker.model.X" -> "model.X",
// "thinker.lm_head.weight" -> "lm_head.weight"), or "" when the twin tensor is not the thinker
// text model's (it is then generated).
std::string TwinSourceName(std::string_view twin_name);

// OK when every token of the source's tokenizer.json (its vocabulary and added tokens) has the
// same id in the twin's: the twin then reads the same text as the same ids. Otherwise an
// InvalidArgument naming both files and the first token that differs.
Status CheckTwinTokenizer(const std::string& source_tokenizer_json,
                          const std::string& twin_tokenizer_json);

}  // namespace omnisage

// The tokenizer files a generated checkpoint carries, derived from the real Qwen3 tokenizer
// (data/qwen3-tokenizer: byte-level BPE, 151,643 tokens + 26 added tokens).
//
// For qwen3_omni_moe the 7 Qwen3-Omni added tokens (ids 151669..151675: audio start/end, TTS pad/
// bos/eod/bos_single, audio pad; spec §2) are appended. For the `tiny` preset the BPE is cut to
// its first kTinyBpeTokens tokens (the 256 byte tokens and the first merges, which keeps it a valid
// BPE since merge i produces token 256 + i) and the added tokens are renumbered to follow it.
#pragma once

#include <string>

#include "model/config.h"
#include "model/presets.h"
#include "util/status.h"

namespace omnisage {

Status WritePresetTokenizer(const std::string& source_dir, Preset preset, Arch arch,
                            const std::string& out_dir);

}  // namespace omnisage

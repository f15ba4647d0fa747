// The tokenizers the tokenizer tests and benchmark run on, built from the repository alone.
//
// The golden files were made with the tokenizer.json that `omnisage synth` writes; these helpers
// build the same JSON from data/qwen3-tokenizer as src/model/synth_tokenizer.cc does (so the tests
// do not depend on the model library): the full Qwen3-Omni tokenizer appends the 7 Qwen3-Omni added
// tokens at 151669..151675; the tiny one keeps the first 4,000 BPE tokens and renumbers the added
// tokens to 4000..4032.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace omnisage::testing {

enum class TestTokenizer { kQwen3Omni, kTiny };

// The text of the tokenizer.json, from `data_dir`/qwen3-tokenizer/tokenizer.json.
StatusOr<std::string> MakeTokenizerJson(const std::string& data_dir, TestTokenizer which);

struct GoldenCase {
  int line = 0;
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;  // HF's decode(ids): `text` unless the file says otherwise
};

// Reads a tests/golden/tokenizer/*.jsonl file.
StatusOr<std::vector<GoldenCase>> ReadGolden(const std::string& path);

}  // namespace omnisage::testing

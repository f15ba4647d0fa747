// Reading a tokenizer's definition from a model directory.
//
// tokenizer.json (HF tokenizers' format) is preferred: model.vocab, model.merges (["a", "b"] pairs
// or "a b" strings), added_tokens, the normalizer (NFC or none) and the pre-tokenizer's Split
// pattern. Without it, vocab.json + merges.txt are read, with the added tokens of
// tokenizer_config.json's added_tokens_decoder when present, NFC and the Qwen split pattern.
// Only byte-level BPE is accepted; anything else is an Unimplemented error naming the file and the
// field. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "util/status.h"

namespace omnisage {

struct TokenizerDefinition {
  std::string source;  // the file read, for messages: "DIR/tokenizer.json"
  std::unordered_map<std::string, int32_t> vocab;  // byte-level token string -> id
  std::vector<BpeMerge> merges;                    // in rank order
  std::vector<AddedToken> added_tokens;            // in file order
  std::string split_pattern;                       // the regex of the Split pre-tokenizer
  bool nfc = true;                                 // the normalizer is NFC (else none)
};

StatusOr<TokenizerDefinition> ReadTokenizerDefinition(const std::string& model_dir);

// Parses the text of a tokenizer.json; `source` names it in errors. Never throws.
StatusOr<TokenizerDefinition> ParseTokenizerJson(std::string_view text, std::string_view source);

}  // namespace omnisage

// Tokenizer: text <-> token ids for Qwen3 / Qwen3-Omni, byte-for-byte compatible with HF
// tokenizers (checked against 2,000+ golden strings, tests/golden/tokenizer).
//
// Encode, in HF's order:
//   1. added tokens (<|im_start|>, <think>, <|audio_pad|>, ...) are found in the raw text, longest
//      match first, and are never split (added_tokens.h);
//   2. the text between them is NFC-normalised (normalizer.h);
//   3. split by the pre-tokenizer regex of tokenizer.json (pre_tokenizer.h);
//   4. each piece's bytes are BPE-merged by merge rank (bpe.h).
// Text that is not valid UTF-8 has each invalid subpart replaced by U+FFFD first. No BOS/EOS is
// added: Qwen's post-processor adds none.
//
// Decode maps ids back to bytes (the inverse GPT-2 byte map for BPE tokens; an added token's
// content verbatim) and repairs invalid UTF-8 with U+FFFD as HF's decode does; the bytes on each
// side of an added token are repaired separately. Ids that name no token are skipped.
//
// Thread-safety: a Tokenizer is immutable after Load (its piece cache is internally locked), so
// Encode, Decode and the lookups may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "util/status.h"

namespace omnisage {

class BpeModel;
class PreTokenizer;
struct TokenizerDefinition;

struct TokenizerOptions {
  // Pre-tokenized pieces whose ids are memoised (0 disables the cache).
  size_t cache_capacity = 1 << 16;
};

class Tokenizer {
 public:
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Reads `model_dir`/tokenizer.json, or vocab.json + merges.txt (tokenizer_files.h). Errors name
  // the file and the field.
  static StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& model_dir,
                                                   const TokenizerOptions& options = {});
  // The same from the text of a tokenizer.json; `source` names it in errors.
  static StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text,
                                                       std::string_view source,
                                                       const TokenizerOptions& options = {});

  std::vector<int32_t> Encode(std::string_view text) const;

  // `skip_special` leaves out added tokens marked special (Qwen: all but <think>, <tool_call>...).
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  // The id of an added token's content ("<|im_end|>") or of a vocabulary entry in its byte-level
  // spelling ("Ġthe"); -1 if there is none.
  int32_t TokenId(std::string_view token) const;

  // True for added tokens marked special.
  bool IsSpecial(int32_t id) const;
  // True for added tokens (special or not).
  bool IsAdded(int32_t id) const;

  // The bytes that `id` stands for: a BPE token's raw bytes (possibly a fragment of a UTF-8
  // character) or an added token's content; empty for an unknown id.
  std::string_view TokenBytes(int32_t id) const;

  // One more than the largest id (151,676 for Qwen3-Omni: 151,643 BPE tokens + 33 added).
  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }

  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }

 private:
  Tokenizer();
  static StatusOr<std::unique_ptr<Tokenizer>> Build(TokenizerDefinition&& def,
                                                    const TokenizerOptions& options);
  // Appends the ids of `text` (valid UTF-8, no raw-text added tokens in it).
  void EncodePlain(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const;

  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;  // null: each text is one piece
  bool nfc_ = true;
  std::vector<AddedToken> added_tokens_;
  std::unique_ptr<AddedTokenMatcher> raw_matcher_;         // normalized == false
  std::unique_ptr<AddedTokenMatcher> normalized_matcher_;  // normalized == true
  std::unordered_map<std::string, int32_t> added_ids_;     // content -> id
  std::unordered_map<std::string, int32_t> vocab_;         // byte-level spelling -> id
  std::vector<std::string> token_bytes_;                   // id -> bytes
  std::vector<int8_t> added_kind_;                         // id -> 0 BPE, 1 added, 2 special
};

}  // namespace omnisage

// Added tokens (Qwen's <|im_start|>, <think>, <|audio_pad|>...): whole strings with their own ids
// that are found in the text before any normalisation or splitting and are never split.
//
// Matching follows HF tokenizers' AddedVocabulary: scanning left to right, at the first position
// where any token matches the longest one wins (leftmost-longest, as its Aho-Corasick automaton);
// a `single_word` token counts only with no word character (\w) on either side; `lstrip` / `rstrip`
// make the token absorb the whitespace before / after it. Tokens with `normalized` = true are
// looked for in the NFC text of the stretches between the others (HF's second pass).
//
// Thread-safety: immutable after construction; Split may be called from several threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace omnisage {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;      // skipped by Decode(skip_special = true)
  bool lstrip = false;       // absorbs the whitespace before it
  bool rstrip = false;       // absorbs the whitespace after it
  bool single_word = false;  // matches only as a whole word
  bool normalized = false;   // matched in normalised text (HF default: !special)
};

// A stretch of text: an added token (id >= 0) or plain text to tokenize (id == -1).
struct TextSegment {
  int32_t id;
  size_t begin;  // byte offsets into the text given to Split
  size_t end;
};

class AddedTokenMatcher {
 public:
  // Keeps pointers to `tokens`, which must outlive the matcher.
  explicit AddedTokenMatcher(const std::vector<const AddedToken*>& tokens);

  bool empty() const { return tokens_.empty(); }

  // Appends the segments of `text` (valid UTF-8), in order and covering all of it; empty stretches
  // of plain text are left out.
  void Split(std::string_view text, std::vector<TextSegment>* out) const;

 private:
  std::vector<const AddedToken*> tokens_;
  // For each first byte, the tokens that start with it, longest first.
  std::array<std::vector<const AddedToken*>, 256> by_first_byte_;
};

}  // namespace omnisage

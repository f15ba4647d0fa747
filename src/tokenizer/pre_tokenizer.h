// The regex pre-tokenizer: splits normalised text into the pieces that BPE encodes one by one.
//
// Mirrors HF tokenizers' Split(pattern, behavior = Isolated, invert = false): every match is a
// piece and so is every stretch of text between matches. The pattern is the one in tokenizer.json
// (for Qwen: contractions, letter runs with one leading non-letter, single digits, punctuation
// runs, newline runs, whitespace runs). It is compiled with PCRE2 (UTF + UCP, JIT when available)
// after rewrites that make PCRE2 match exactly like the Oniguruma engine HF uses (checked on every
// code point in 12 contexts against HF tokenizers 0.23):
//   * `(?i:...)` groups of plain literals match ASCII case only ('[sS]): Oniguruma does not fold
//     "'ſ" (U+017F) onto "'s" where PCRE2 would.
//   * `\s` and `\S` are spelled out as Unicode White_Space, Oniguruma's \s; PCRE2 10.42 also
//     counts U+180E MONGOLIAN VOWEL SEPARATOR.
//   * `\p{L}` and `\p{N}` gain the letters and numbers of Unicode 15-16, which Oniguruma knows
//     and PCRE2 10.42 (Unicode 14) does not (unicode_compat.h).
//
// A PreTokenizer is immutable after Create and safe to use from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace omnisage {

// The Qwen2/Qwen3 pattern (spec §10), used when a model directory has no tokenizer.json.
inline constexpr std::string_view kQwenSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Compiles `pattern`; a syntax error names `source` (e.g. "tokenizer.json: pre_tokenizer...").
  static StatusOr<std::unique_ptr<PreTokenizer>> Create(std::string_view pattern,
                                                        std::string_view source);

  // Appends the pieces of `text` (valid UTF-8) to `pieces` as [begin, end) byte ranges, in order,
  // covering all of `text`.
  void Split(std::string_view text, std::vector<std::pair<size_t, size_t>>* pieces) const;

  // The pattern after the rewrites above (for tests and error messages).
  const std::string& compiled_pattern() const { return pattern_; }

 private:
  PreTokenizer() = default;

  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// The rewrites described above, exposed for tests. Escapes inside a character class other than
// \s, \p{L}, \p{N} (e.g. \S or \P{L} there) are left as they are.
std::string RewritePatternForPcre2(std::string_view pattern);

}  // namespace omnisage

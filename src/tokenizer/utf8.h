// UTF-8 scanning for the tokenizer: validation, lossy repair and the incomplete tail that a
// streaming decoder must hold back.
//
// Invalid bytes are replaced as the Unicode Standard recommends ("substitution of maximal
// subparts", §3.9): each maximal prefix of a well-formed sequence that cannot be completed, or each
// single byte that cannot start one, becomes one U+FFFD. This is what HF tokenizers
// (String::from_utf8_lossy) and Python's bytes.decode(errors="replace") do, so text repaired here
// equals theirs byte for byte. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace omnisage {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

enum class Utf8Kind {
  kValid,      // a complete, well-formed sequence
  kInvalid,    // a maximal subpart that can never be completed (replace it by one U+FFFD)
  kTruncated,  // the rest of the input is a proper prefix of a well-formed sequence
};

struct Utf8Step {
  Utf8Kind kind;
  size_t length;  // bytes consumed from `pos`: >= 1
};

// Classifies the bytes of `s` that start at `pos` (< s.size()).
Utf8Step ScanUtf8(std::string_view s, size_t pos);

bool IsValidUtf8(std::string_view s);

// Appends `s` to `out`, replacing every invalid or truncated subpart by U+FFFD.
void AppendUtf8Lossy(std::string_view s, std::string* out);
std::string ToValidUtf8(std::string_view s);

// The code point of the well-formed sequence at s[pos] (as found by ScanUtf8) and its length.
char32_t DecodeUtf8At(std::string_view s, size_t pos, size_t* length);

// Appends the UTF-8 encoding of `cp` (a Unicode scalar value).
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace omnisage

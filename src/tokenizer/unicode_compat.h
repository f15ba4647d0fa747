// Unicode-version differences between the libraries the tokenizer is built on (PCRE2 10.42:
// Unicode 14; utf8proc 2.8: Unicode 15) and HF tokenizers (Oniguruma's regex tables: Unicode 16;
// its NFC tables: Unicode 9), found by comparing every code point with HF tokenizers 0.23
// (tools/reference/make_tokenizer_fixtures.py has the golden strings that exercise them).
//
// Each table is a sorted list of inclusive code point ranges. Constant data; thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace omnisage {

struct CodePointRange {
  char32_t first;
  char32_t last;
};

// Letters (\p{L}) and numbers (\p{N}) assigned in Unicode 15.0-16.0, which Oniguruma matches and
// PCRE2 10.42 does not. The pre-tokenizer adds them to \p{L} / \p{N} in the split pattern.
std::span<const CodePointRange> LettersSinceUnicode14();
std::span<const CodePointRange> NumbersSinceUnicode14();

// Code points that utf8proc composes or reorders under NFC but HF's Unicode 9 NFC treats as
// unassigned (canonical combining class 0, no composition): combining marks assigned in Unicode
// 10.0-15.0 and U+11930 (DIVES AKURU VOWEL SIGN AA, which composes with U+11935 since 13.0).
// The normalizer keeps them in place as HF does by normalising the text around them separately.
std::span<const CodePointRange> NfcOpaqueSinceUnicode9();

// True when `cp` lies in one of `ranges`.
bool InRanges(std::span<const CodePointRange> ranges, char32_t cp);

}  // namespace omnisage

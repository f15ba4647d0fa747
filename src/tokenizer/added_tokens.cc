#include "tokenizer/added_tokens.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

// Rust's char::is_whitespace and regex \s: the Unicode White_Space property.
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Rust regex \w: alphabetic, marks, decimal digits, connector punctuation, joiners. Letters,
// letter numbers and marks stand in for Alphabetic (which adds a few symbols like circled letters).
bool IsWordChar(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_';
  if (c == 0x200C || c == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// The code point that ends at `end` (exclusive), and its start.
char32_t CodePointBefore(std::string_view s, size_t end, size_t* start) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  *start = i;
  size_t len = 0;
  return DecodeUtf8At(s, i, &len);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<const AddedToken*>& tokens) {
  for (const AddedToken* t : tokens) {
    if (t->content.empty()) continue;
    tokens_.push_back(t);
    by_first_byte_[static_cast<uint8_t>(t->content[0])].push_back(t);
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
  }
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<TextSegment>* out) const {
  size_t done = 0;  // text before this offset has been emitted
  size_t i = 0;
  while (i < text.size()) {
    const auto& candidates = by_first_byte_[static_cast<uint8_t>(text[i])];
    const AddedToken* match = nullptr;
    for (const AddedToken* t : candidates) {
      if (t->content.size() <= text.size() - i &&
          std::memcmp(text.data() + i, t->content.data(), t->content.size()) == 0) {
        match = t;
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    size_t start = i;
    size_t stop = i + match->content.size();
    i = stop;                    // the automaton resumes after a match, kept or not
    if (start < done) continue;  // inside whitespace that an rstrip token took
    if (match->single_word) {
      size_t prev_start = 0;
      const bool word_before = start > 0 && IsWordChar(CodePointBefore(text, start, &prev_start));
      size_t len = 0;
      const bool word_after = stop < text.size() && IsWordChar(DecodeUtf8At(text, stop, &len));
      if (word_before || word_after) continue;
    }
    if (match->lstrip) {
      while (start > done) {
        size_t prev_start = 0;
        if (!IsWhiteSpace(CodePointBefore(text, start, &prev_start))) break;
        start = prev_start;
      }
    }
    if (match->rstrip) {
      while (stop < text.size()) {
        size_t len = 0;
        if (!IsWhiteSpace(DecodeUtf8At(text, stop, &len))) break;
        stop += len;
      }
      i = stop;
    }
    if (start > done) out->push_back({-1, done, start});
    out->push_back({match->id, start, stop});
    done = stop;
  }
  if (done < text.size()) out->push_back({-1, done, text.size()});
}

}  // namespace omnisage

#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>

#include "tokenizer/unicode_compat.h"
#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

// True when every code point is below U+0300, the first combining mark: such text has no
// decomposable pair and no mark to reorder, so NFC leaves it unchanged. Lead bytes below 0xCC
// encode code points below U+0300.
bool TriviallyNfc(std::string_view text) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0xCC) return false;
  }
  return true;
}

void AppendNfc(std::string_view text, std::string* out) {
  if (TriviallyNfc(text)) {
    out->append(text);
    return;
  }
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    // Only invalid UTF-8 fails, which callers exclude; keep the text rather than lose it.
    std::free(mapped);
    out->append(text);
    return;
  }
  out->append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
}

}  // namespace

std::string ToNfc(std::string_view text) {
  std::string storage;
  return std::string(ToNfc(text, &storage));
}

std::string_view ToNfc(std::string_view text, std::string* storage) {
  if (TriviallyNfc(text)) return text;
  std::string& out = *storage;
  out.clear();
  out.reserve(text.size());
  // A code point that HF's older tables do not know is a starter that composes with nothing, so
  // NFC(a x b) = NFC(a) x NFC(b): normalise the text between such code points on its own.
  const std::span<const CodePointRange> opaque = NfcOpaqueSinceUnicode9();
  size_t segment = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<uint8_t>(text[i]) < 0xDF) {  // below U+07C0: never opaque
      ++i;
      continue;
    }
    size_t len = 0;
    const char32_t cp = DecodeUtf8At(text, i, &len);
    if (InRanges(opaque, cp)) {
      AppendNfc(text.substr(segment, i - segment), storage);
      out.append(text.substr(i, len));
      segment = i + len;
    }
    i += len;
  }
  AppendNfc(text.substr(segment), storage);
  return out;
}

}  // namespace omnisage

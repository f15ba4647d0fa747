#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_char;
  std::array<int16_t, 512> char_to_byte;  // every alphabet character is below U+0200; -1: none

  Tables() {
    char_to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : 256 + next++;
      AppendUtf8(cp, &byte_to_char[b]);
      char_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

std::string_view ByteLevelChar(uint8_t byte) { return GetTables().byte_to_char[byte]; }

std::string BytesToByteLevel(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(t.byte_to_char[static_cast<uint8_t>(c)]);
  return out;
}

bool ByteLevelToBytes(std::string_view token, std::string* out) {
  const Tables& t = GetTables();
  std::string bytes;
  bytes.reserve(token.size());
  size_t i = 0;
  while (i < token.size()) {
    const Utf8Step step = ScanUtf8(token, i);
    if (step.kind != Utf8Kind::kValid) return false;
    size_t len = 0;
    const char32_t cp = DecodeUtf8At(token, i, &len);
    if (cp >= t.char_to_byte.size() || t.char_to_byte[cp] < 0) return false;
    bytes.push_back(static_cast<char>(t.char_to_byte[cp]));
    i += len;
  }
  out->append(bytes);
  return true;
}

}  // namespace omnisage

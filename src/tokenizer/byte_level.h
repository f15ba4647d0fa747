// The GPT-2 byte-level alphabet: every byte 0..255 is shown as one printable Unicode character so
// that BPE vocabularies can be stored as JSON strings ("Ġ" is the space byte 0x20, "Ċ" is 0x0A).
// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.
// Pure functions over constant tables; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace omnisage {

// The UTF-8 encoding of the character that stands for `byte`.
std::string_view ByteLevelChar(uint8_t byte);

// Maps every byte of `bytes` to its character: "hi there" -> "hiĠthere".
std::string BytesToByteLevel(std::string_view bytes);

// The inverse: appends the bytes that the characters of `token` stand for to `out` and returns
// true, or returns false (leaving `out` unchanged) when `token` holds a character outside the
// alphabet or is not valid UTF-8.
bool ByteLevelToBytes(std::string_view token, std::string* out);

}  // namespace omnisage

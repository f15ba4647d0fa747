// Base64 (RFC 4648, standard alphabet, with padding) for the OpenAI API's binary fields: audio in
// (input_audio.data), audio out (message.audio.data) and data URLs. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace omnisage {

std::string Base64Encode(std::string_view bytes);
// Null when `text` is not base64 (a character outside the alphabet, or a length that padding
// cannot explain). Whitespace is not allowed.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace omnisage

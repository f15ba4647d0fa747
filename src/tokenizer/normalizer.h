// Unicode NFC normalisation (utf8proc), the normalizer of the Qwen tokenizers.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace omnisage {

// The NFC form of `text`, which must be valid UTF-8, as HF tokenizers computes it (see
// unicode_compat.h for the code points where its Unicode tables are older than utf8proc's).
std::string ToNfc(std::string_view text);

// The same without a copy when it can: returns `text` itself when its code points are all below
// U+0300 (ASCII and most Latin text, which NFC leaves unchanged), else the NFC text stored in
// `*storage`.
std::string_view ToNfc(std::string_view text, std::string* storage);

}  // namespace omnisage

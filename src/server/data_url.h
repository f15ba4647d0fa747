// Data URLs (RFC 2397) as the OpenAI API carries images in image_url parts:
// "data:image/png;base64,iVBORw0…". The server takes media only this way: it downloads nothing,
// so an http(s) URL, or any other scheme, is refused by the caller. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace omnisage {

struct DataUrl {
  std::string media_type;  // lower case, e.g. "image/png"; "" when the URL gives none
  std::string bytes;       // the decoded payload
};

// True when `url` begins with "data:" (any case), the only scheme the server reads.
bool IsDataUrl(std::string_view url);

// Decodes "data:[<media type>][;<parameter>…];base64,<data>". Errors (InvalidArgument, naming
// `where`): not a data URL, no comma, a payload that is not marked ;base64 (percent-encoded
// payloads are not used for binary media), base64 that does not decode, an empty payload.
StatusOr<DataUrl> ParseDataUrl(std::string_view url, const std::string& where);

}  // namespace omnisage

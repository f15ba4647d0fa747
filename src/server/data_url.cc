#include "server/data_url.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "server/base64.h"

namespace omnisage {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool IsDataUrl(std::string_view url) { return Lower(url.substr(0, 5)) == "data:"; }

StatusOr<DataUrl> ParseDataUrl(std::string_view url, const std::string& where) {
  if (!IsDataUrl(url)) {
    return InvalidArgument(fmt::format("{}: not a data URL (data:<type>;base64,<data>)", where));
  }
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) {
    return InvalidArgument(fmt::format("{}: a data URL needs a comma before its data", where));
  }
  const std::string header = Lower(url.substr(5, comma - 5));
  DataUrl out;
  out.media_type = header.substr(0, header.find(';'));
  const bool base64 = header.size() >= 7 && header.compare(header.size() - 7, 7, ";base64") == 0;
  if (!base64) {
    return InvalidArgument(fmt::format("{}: the data URL must be base64 (data:{};base64,…)", where,
                                       out.media_type.empty() ? "image/png" : out.media_type));
  }
  std::optional<std::string> bytes = Base64Decode(url.substr(comma + 1));
  if (!bytes) return InvalidArgument(fmt::format("{}: the data URL's data is not base64", where));
  if (bytes->empty()) return InvalidArgument(fmt::format("{}: the data URL holds no data", where));
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace omnisage

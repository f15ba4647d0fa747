// The web chat served at GET /: one HTML file (src/server/web/index.html, with its script and
// style inline), embedded into the binary at build time (embed_asset.cmake), so the page needs
// nothing from the network.
#pragma once

#include <string_view>

namespace omnisage {

std::string_view WebPage();

}  // namespace omnisage

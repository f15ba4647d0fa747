// The memory plot of `omnisage profile` as a self-contained SVG document (no script, no external
// resource): x is time, y is bytes. Background bands shade the phases (load, prefill, decode;
// idle is left white), the ledger's kinds (dense, expert cache, KV cache, activations) are
// stacked areas, RSS is a solid line and the page cache of the model files a dashed one; axes
// carry ticks in human units ("1.5 GiB", "2 s"); a legend below names series and phases.
//
// Element ids tests and tools may rely on: g#phases (one rect per phase run, class "phase-NAME"),
// g#ledger (one polygon per kind, class "ledger-KIND"), polyline#rss, polyline#page-cache,
// g#x-axis, g#y-axis, g#legend. With more samples than about two per pixel column, each column
// keeps its first sample and its highest RSS, ledger total and page cache, so peaks survive.
// Pure function; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "profile/sampler.h"

namespace omnisage {

struct PlotOptions {
  std::string title;  // escaped for XML
  int width = 960;
  int height = 540;
};

std::string ProfilePlotSvg(const std::vector<MemorySample>& samples, const PlotOptions& options);

}  // namespace omnisage

#include "profile/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "util/units.h"

namespace omnisage {
namespace {

struct KindStyle {
  MemoryKind kind;
  const char* label;
  const char* color;
};
constexpr std::array<KindStyle, 4> kKinds = {{
    {MemoryKind::kDense, "dense", "#4e79a7"},
    {MemoryKind::kExpertCache, "expert cache", "#f28e2b"},
    {MemoryKind::kKvCache, "KV cache", "#59a14f"},
    {MemoryKind::kActivations, "activations", "#e15759"},
}};

struct PhaseStyle {
  Phase phase;
  const char* color;  // nullptr: not shaded
};
constexpr std::array<PhaseStyle, 5> kPhases = {{
    {Phase::kLoad, "#fbe7b5"},
    {Phase::kPrefill, "#e4d8f3"},
    {Phase::kDecode, "#d3efe1"},
    {Phase::kSpeak, "#d6e6f5"},
    {Phase::kIdle, nullptr},
}};

const char* PhaseColor(Phase p) {
  for (const PhaseStyle& s : kPhases) {
    if (s.phase == p) return s.color;
  }
  return nullptr;
}

constexpr const char* kRssColor = "#1a1a1a";
constexpr const char* kPageCacheColor = "#8e44ad";

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

// At most `max_bytes` bytes of `s`, cut before a UTF-8 continuation byte, "..." marking a cut.
std::string Shorten(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes > 3 ? max_bytes - 3 : 0;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// A "nice" step (1, 2, 2.5 or 5 × 10^k) near range / target_ticks.
double NiceStep(double range, int target_ticks) {
  if (range <= 0) return 1;
  const double raw = range / target_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= f * mag) return f * mag;
  }
  return 10 * mag;
}

// Decimals needed to print multiples of `step` exactly enough.
int Decimals(double step) {
  int d = 0;
  while (d < 3 &&
         std::fabs(step * std::pow(10.0, d) - std::round(step * std::pow(10.0, d))) > 1e-6) {
    ++d;
  }
  return d;
}

// The samples to draw: all of them, or per pixel column the first and each series' maximum.
std::vector<size_t> PlotIndices(const std::vector<MemorySample>& samples, double t0, double t1,
                                int columns) {
  const size_t n = samples.size();
  std::vector<size_t> out;
  if (n <= static_cast<size_t>(2 * columns) || t1 <= t0) {
    for (size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  size_t i = 0;
  while (i < n) {
    const int col =
        std::min(columns - 1, static_cast<int>((samples[i].t_s - t0) / (t1 - t0) * columns));
    size_t rss = i, total = i, cache = i, j = i;
    for (; j < n; ++j) {
      const int c =
          std::min(columns - 1, static_cast<int>((samples[j].t_s - t0) / (t1 - t0) * columns));
      if (c != col) break;
      if (samples[j].rss_bytes > samples[rss].rss_bytes) rss = j;
      if (samples[j].ledger_total() > samples[total].ledger_total()) total = j;
      if (samples[j].page_cache_bytes > samples[cache].page_cache_bytes) cache = j;
    }
    for (size_t k : {i, rss, total, cache}) out.push_back(k);
    i = j;
  }
  out.push_back(n - 1);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string ProfilePlotSvg(const std::vector<MemorySample>& samples, const PlotOptions& options) {
  const int w = std::max(options.width, 400), h = std::max(options.height, 300);
  const double left = 84, right = w - 24, top = 56, bottom = h - 112;
  // Time runs from the sampler's start (0) to the last sample.
  const double t0 = samples.empty() ? 0 : std::min(0.0, samples.front().t_s);
  const double t1 = std::max(samples.empty() ? 1.0 : samples.back().t_s, t0 + 1e-3);
  uint64_t max_bytes = 0;
  for (const MemorySample& s : samples) {
    max_bytes = std::max({max_bytes, s.rss_bytes, s.page_cache_bytes, s.ledger_total()});
  }
  if (max_bytes == 0) max_bytes = 1 << 20;

  // Y axis in the largest binary unit that keeps the top at 1 or more.
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  double unit_bytes = 1;
  while (unit < 4 && static_cast<double>(max_bytes) / unit_bytes >= 1024) {
    unit_bytes *= 1024;
    ++unit;
  }
  const double y_step = NiceStep(static_cast<double>(max_bytes) * 1.05 / unit_bytes, 6);
  const double y_top =
      std::ceil(static_cast<double>(max_bytes) * 1.05 / unit_bytes / y_step) * y_step * unit_bytes;
  const double x_step = NiceStep(t1 - t0, 8);

  auto X = [&](double t) { return left + (t - t0) / (t1 - t0) * (right - left); };
  auto Y = [&](double bytes) { return bottom - bytes / y_top * (bottom - top); };

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
      w, h);
  const std::string title = Escape(options.title.empty() ? std::string("memory profile")
                                                         : "memory profile: " + options.title);
  svg += fmt::format("<title>{}</title>\n", title);
  // The heading fits the width (about 9 px per character at 15 px bold); <title> keeps it whole.
  const std::string heading = Escape(Shorten(
      options.title.empty() ? std::string("memory profile") : "memory profile: " + options.title,
      static_cast<size_t>((w - 40) / 9)));
  svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", w, h);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"24\" font-size=\"15\" font-weight=\"bold\" "
      "text-anchor=\"middle\">{}</text>\n",
      w / 2.0, heading);
  uint64_t peak_rss = 0;
  for (const MemorySample& s : samples) peak_rss = std::max(peak_rss, s.rss_bytes);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"42\" font-size=\"12\" fill=\"#555555\" "
      "text-anchor=\"middle\">{} samples over {:.2f} s, peak RSS {}</text>\n",
      w / 2.0, samples.size(), t1 - t0, FormatBytes(peak_rss));

  // Phase bands: one rect per run of equal phase, from its first sample to the next run's.
  svg += "<g id=\"phases\">\n";
  for (size_t i = 0; i < samples.size();) {
    size_t j = i;
    while (j < samples.size() && samples[j].phase == samples[i].phase) ++j;
    const double a = X(samples[i].t_s), b = X(j < samples.size() ? samples[j].t_s : t1);
    const char* color = PhaseColor(samples[i].phase);
    if (color != nullptr && b > a) {
      const std::string name(PhaseName(samples[i].phase));
      svg += fmt::format(
          "<rect class=\"phase-{}\" x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" "
          "fill=\"{}\"/>\n",
          name, a, top, b - a, bottom - top, color);
      if (b - a >= 8.0 * name.size()) {
        svg += fmt::format(
            "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#666666\" "
            "text-anchor=\"middle\">{}</text>\n",
            (a + b) / 2, top + 14, name);
      }
    }
    i = j;
  }
  svg += "</g>\n";

  // Grid and y axis.
  svg += "<g id=\"y-axis\">\n";
  const int y_decimals = Decimals(y_step);
  for (double v = 0; v <= y_top / unit_bytes + y_step / 2; v += y_step) {
    const double y = Y(v * unit_bytes);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.2f}\" x2=\"{:.1f}\" y2=\"{:.2f}\" stroke=\"#000000\" "
        "stroke-opacity=\"0.12\"/>\n",
        left, y, right, y);
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.2f}\" text-anchor=\"end\" dominant-baseline=\"middle\">"
        "{:.{}f} {}</text>\n",
        left - 6, y, v, y_decimals, kUnits[unit]);
  }
  svg += fmt::format(
      "<text transform=\"translate(18 {:.1f}) rotate(-90)\" text-anchor=\"middle\">memory"
      "</text>\n",
      (top + bottom) / 2);
  svg += "</g>\n";

  // Ledger kinds, stacked.
  const std::vector<size_t> idx = PlotIndices(samples, t0, t1, static_cast<int>(right - left));
  svg += "<g id=\"ledger\" fill-opacity=\"0.6\" stroke-width=\"0.8\">\n";
  std::vector<double> base(idx.size(), 0.0);
  for (const KindStyle& k : kKinds) {
    std::vector<double> topv(idx.size());
    bool any = false;
    for (size_t p = 0; p < idx.size(); ++p) {
      const uint64_t v = samples[idx[p]].ledger_bytes(k.kind);
      any |= v > 0;
      topv[p] = base[p] + static_cast<double>(v);
    }
    if (any) {
      std::string points;
      for (size_t p = 0; p < idx.size(); ++p) {
        points += fmt::format("{:.2f},{:.2f} ", X(samples[idx[p]].t_s), Y(topv[p]));
      }
      for (size_t p = idx.size(); p-- > 0;) {
        points += fmt::format("{:.2f},{:.2f} ", X(samples[idx[p]].t_s), Y(base[p]));
      }
      points.pop_back();
      svg += fmt::format("<polygon class=\"ledger-{}\" points=\"{}\" fill=\"{}\" stroke=\"{}\"/>\n",
                         MemoryKindName(k.kind), points, k.color, k.color);
    }
    base = std::move(topv);
  }
  svg += "</g>\n";

  // Page cache (dashed) and RSS (solid) on top.
  auto polyline = [&](const char* id, const char* color, const char* extra, auto value) {
    std::string points;
    for (size_t i : idx) {
      points += fmt::format("{:.2f},{:.2f} ", X(samples[i].t_s),
                            Y(static_cast<double>(value(samples[i]))));
    }
    if (!points.empty()) points.pop_back();
    return fmt::format(
        "<polyline id=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-linejoin=\"round\" "
        "{}/>\n",
        id, points, color, extra);
  };
  svg += polyline("page-cache", kPageCacheColor, "stroke-width=\"1.8\" stroke-dasharray=\"6 4\"",
                  [](const MemorySample& s) { return s.page_cache_bytes; });
  svg += polyline("rss", kRssColor, "stroke-width=\"2.2\"",
                  [](const MemorySample& s) { return s.rss_bytes; });

  // X axis.
  svg += "<g id=\"x-axis\">\n";
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#333333\"/>\n",
      left, bottom, right);
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333333\"/>\n",
      left, top, bottom);
  const int x_decimals = Decimals(x_step);
  const double first_tick = std::ceil(t0 / x_step - 1e-9) * x_step;
  for (double t = first_tick; t <= t1 + x_step * 1e-6; t += x_step) {
    if (std::fabs(t) < x_step * 1e-6) t = 0;  // no "-0.0 s"
    const double x = X(t);
    svg += fmt::format(
        "<line x1=\"{0:.2f}\" y1=\"{1:.1f}\" x2=\"{0:.2f}\" y2=\"{2:.1f}\" stroke=\"#333333\"/>\n",
        x, bottom, bottom + 5);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.{}f} s</text>\n",
                       x, bottom + 19, t, x_decimals);
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">time</text>\n",
                     (left + right) / 2, bottom + 38);
  svg += "</g>\n";

  // Legend: series on the first row, phases on the second.
  svg += "<g id=\"legend\">\n";
  double x = left;
  const double row1 = bottom + 62, row2 = bottom + 86;
  auto line_entry = [&](const char* label, const char* color, const char* extra) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" {4}/>\n",
        x, row1, x + 24, color, extra);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\">{}</text>\n",
                       x + 30, row1, label);
    x += 30 + 7.0 * std::string_view(label).size() + 22;
  };
  line_entry("RSS", kRssColor, "stroke-width=\"2.2\"");
  line_entry("page cache (model files)", kPageCacheColor,
             "stroke-width=\"1.8\" stroke-dasharray=\"6 4\"");
  for (const KindStyle& k : kKinds) {
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"12\" fill=\"{}\" "
        "fill-opacity=\"0.6\" stroke=\"{}\"/>\n",
        x, row1 - 6, k.color, k.color);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\">{}</text>\n",
                       x + 20, row1, k.label);
    x += 20 + 7.0 * std::string_view(k.label).size() + 18;
  }
  x = left;
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\" fill=\"#555555\">phase:"
      "</text>\n",
      x, row2);
  x += 52;
  for (const PhaseStyle& p : kPhases) {
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"12\" fill=\"{}\" "
        "stroke=\"#999999\"/>\n",
        x, row2 - 6, p.color != nullptr ? p.color : "#ffffff");
    const std::string label(PhaseName(p.phase));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\">{}</text>\n",
                       x + 20, row2, label);
    x += 20 + 7.0 * label.size() + 18;
  }
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\" fill=\"#555555\">"
      "ledger kinds are stacked</text>\n",
      x + 12, row2);
  svg += "</g>\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace omnisage

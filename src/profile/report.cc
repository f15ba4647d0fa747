#include "profile/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include "io/file.h"
#include "io/file_system.h"
#include "profile/plot.h"
#include "util/units.h"

namespace omnisage {
namespace {

constexpr std::array<Phase, 5> kPhaseOrder = {Phase::kLoad, Phase::kPrefill, Phase::kDecode,
                                              Phase::kSpeak, Phase::kIdle};

size_t PeakRssIndex(const std::vector<MemorySample>& samples) {
  size_t best = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    if (samples[i].rss_bytes > samples[best].rss_bytes) best = i;
  }
  return best;
}

// `k` indices spread evenly over [0, n), ascending; all of them when k >= n.
std::vector<size_t> EvenlySpaced(size_t n, size_t k) {
  std::vector<size_t> out;
  if (n == 0 || k == 0) return out;
  if (k >= n) {
    for (size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  if (k == 1) return {0};
  for (size_t j = 0; j < k; ++j) out.push_back(j * (n - 1) / (k - 1));
  return out;
}

std::string SignedBytes(int64_t delta) {
  if (delta == 0) return "0 B";
  const std::string mag = FormatBytes(static_cast<uint64_t>(std::llabs(delta)));
  return (delta > 0 ? "+" : "-") + mag;
}

std::string Seconds(double s, int decimals = 3) { return fmt::format("{:.{}f} s", s, decimals); }

std::string Percent(double part, double whole) {
  return whole > 0 ? fmt::format("{:.0f}%", 100.0 * part / whole) : "-";
}

}  // namespace

std::string ProfileCsv(const std::vector<MemorySample>& samples) {
  std::string out =
      "time_s,rss_bytes,page_cache_bytes,dense_bytes,expert_cache_bytes,kv_cache_bytes,"
      "activations_bytes,phase\n";
  for (const MemorySample& s : samples) {
    out += fmt::format("{:.4f},{},{},{},{},{},{},{}\n", s.t_s, s.rss_bytes, s.page_cache_bytes,
                       s.ledger_bytes(MemoryKind::kDense), s.ledger_bytes(MemoryKind::kExpertCache),
                       s.ledger_bytes(MemoryKind::kKvCache),
                       s.ledger_bytes(MemoryKind::kActivations), PhaseName(s.phase));
  }
  return out;
}

std::vector<size_t> TableRows(const std::vector<MemorySample>& samples, size_t max_rows) {
  const size_t n = samples.size();
  if (n == 0) return {};
  max_rows = std::max<size_t>(max_rows, 3);
  if (n <= max_rows) return EvenlySpaced(n, n);
  std::vector<size_t> rows = {0, n - 1, PeakRssIndex(samples)};
  std::vector<size_t> changes;
  for (size_t i = 1; i < n; ++i) {
    if (samples[i].phase != samples[i - 1].phase) changes.push_back(i);
  }
  const size_t room = max_rows - 3;
  if (changes.size() > room) {
    for (size_t j : EvenlySpaced(changes.size(), room)) rows.push_back(changes[j]);
  } else {
    rows.insert(rows.end(), changes.begin(), changes.end());
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  // Fill the rest with evenly spaced samples; collisions with rows already chosen make the table
  // a row or two shorter, never longer.
  if (rows.size() < max_rows) {
    for (size_t i : EvenlySpaced(n, max_rows - rows.size() + 2)) {
      if (rows.size() >= max_rows) break;
      if (!std::binary_search(rows.begin(), rows.end(), i)) {
        rows.insert(std::lower_bound(rows.begin(), rows.end(), i), i);
      }
    }
  }
  return rows;
}

std::string ProfileTable(const std::vector<MemorySample>& samples, const ReportOptions& options) {
  std::string out;
  if (!options.title.empty()) out += fmt::format("memory profile: {}\n\n", options.title);
  if (samples.empty()) return out + "no samples\n";
  const std::vector<size_t> rows = TableRows(samples, options.max_rows);
  const size_t peak = PeakRssIndex(samples);
  const double span = samples.back().t_s - samples.front().t_s;
  const int decimals = span < 10 ? 4 : 3;
  out += fmt::format("{:>12} | {:>11} | {:>12} | {:>15} | {}\n", "time", "memory", "delta", "rate",
                     "phase");
  out += fmt::format("{:->13}+{:->13}+{:->14}+{:->17}+{:->14}\n", "", "", "", "", "");
  for (size_t r = 0; r < rows.size(); ++r) {
    const MemorySample& s = samples[rows[r]];
    std::string delta = "-", rate = "-";
    if (r > 0) {
      const MemorySample& p = samples[rows[r - 1]];
      const int64_t d = static_cast<int64_t>(s.rss_bytes) - static_cast<int64_t>(p.rss_bytes);
      delta = SignedBytes(d);
      const double dt = s.t_s - p.t_s;
      if (dt > 0) rate = fmt::format("{:+.1f} MiB/s", static_cast<double>(d) / dt / (1 << 20));
    }
    std::string phase(PhaseName(s.phase));
    if (rows[r] == peak) phase += "  <- peak RSS";
    out += fmt::format("{:>12} | {:>11} | {:>12} | {:>15} | {}\n", Seconds(s.t_s, decimals),
                       FormatBytes(s.rss_bytes), delta, rate, phase);
  }

  // Summary.
  out += fmt::format("\n{} samples every {:.0f} ms over {}", samples.size(),
                     options.interval_s * 1000, Seconds(span, decimals));
  if (rows.size() < samples.size()) {
    out += fmt::format(" ({} shown: evenly spaced, phase changes, the peak)", rows.size());
  }
  out += "\n";
  out += fmt::format("peak RSS: {} at {} ({})\n", FormatBytes(samples[peak].rss_bytes),
                     Seconds(samples[peak].t_s, decimals), PhaseName(samples[peak].phase));
  size_t lp = 0, pp = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    if (samples[i].ledger_total() > samples[lp].ledger_total()) lp = i;
    if (samples[i].page_cache_bytes > samples[pp].page_cache_bytes) pp = i;
  }
  const MemorySample& l = samples[lp];
  out += fmt::format(
      "peak ledger total: {} at {} (dense {}, expert cache {}, KV cache {}, activations {})\n",
      FormatBytes(l.ledger_total()), Seconds(l.t_s, decimals),
      FormatBytes(l.ledger_bytes(MemoryKind::kDense)),
      FormatBytes(l.ledger_bytes(MemoryKind::kExpertCache)),
      FormatBytes(l.ledger_bytes(MemoryKind::kKvCache)),
      FormatBytes(l.ledger_bytes(MemoryKind::kActivations)));
  if (options.ledger_peak_bytes > l.ledger_total()) {
    out += fmt::format("  the ledger's own peak, between samples: {}\n",
                       FormatBytes(options.ledger_peak_bytes));
  }
  out += fmt::format("peak page cache of model files: {} at {}",
                     FormatBytes(samples[pp].page_cache_bytes), Seconds(samples[pp].t_s, decimals));
  const PageCacheStats& pc = options.page_cache;
  if (pc.files > 0 || pc.skipped_files > 0) {
    out += fmt::format(" ({} files, {}", pc.files, FormatBytes(pc.mapped_bytes));
    if (pc.skipped_files > 0) out += fmt::format("; {} under a page skipped", pc.skipped_files);
    if (pc.restricted_files > 0) {
      out += fmt::format("; {} not owned or writable: the kernel may hide their cached pages",
                         pc.restricted_files);
    }
    out += ")";
  }
  out += "\n";
  std::array<double, kPhaseOrder.size()> per_phase{};  // indexed by Phase
  for (size_t i = 0; i + 1 < samples.size(); ++i) {
    per_phase[static_cast<int>(samples[i].phase)] += samples[i + 1].t_s - samples[i].t_s;
  }
  std::string phases;
  for (Phase p : kPhaseOrder) {
    const double t = per_phase[static_cast<int>(p)];
    bool seen = t > 0;
    for (const MemorySample& s : samples) seen |= s.phase == p;
    if (!seen) continue;
    if (!phases.empty()) phases += ", ";
    phases += fmt::format("{} {} ({})", PhaseName(p), Seconds(t, decimals), Percent(t, span));
  }
  out += fmt::format("time per phase: {}\n", phases);
  return out;
}

Status WriteProfileFiles(const std::string& dir, const std::vector<MemorySample>& samples,
                         const ReportOptions& options, std::string* table) {
  const std::string text = ProfileTable(samples, options);
  OMNI_RETURN_IF_ERROR(WriteFileAtomically(dir + "/memory.csv", ProfileCsv(samples)));
  OMNI_RETURN_IF_ERROR(WriteFileAtomically(dir + "/memory.txt", text));
  OMNI_RETURN_IF_ERROR(WriteFileAtomically(
      dir + "/memory.svg", ProfilePlotSvg(samples, PlotOptions{.title = options.title})));
  if (table != nullptr) *table = text;
  return Status::Ok();
}

}  // namespace omnisage

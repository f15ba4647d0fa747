// What `omnisage profile` writes from a series of MemorySamples (profile/sampler.h):
//   memory.csv  one row per sample, every column raw (bytes, seconds, phase names);
//   memory.txt  the table "time | memory | delta | rate | phase" and a summary (ProfileTable);
//   memory.svg  the plot (profile/plot.h).
// Pure functions of the samples, except WriteProfileFiles. Thread-compatible.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "profile/page_cache.h"
#include "profile/sampler.h"
#include "util/status.h"

namespace omnisage {

struct ReportOptions {
  std::string title;          // what was profiled, e.g. the command line; heads the table and plot
  double interval_s = 0.1;    // the sampling interval
  size_t max_rows = 60;       // the table shows about this many samples (see TableRows)
  PageCacheStats page_cache;  // files mapped by the probe, for the summary's notes
  // The ledger's own peak total (MemoryLedger::peak_total) over the run when known, else 0; the
  // summary sets it beside the sampled peak, which can miss spikes shorter than the interval.
  uint64_t ledger_peak_bytes = 0;
};

// Header "time_s,rss_bytes,page_cache_bytes,dense_bytes,expert_cache_bytes,kv_cache_bytes,
// activations_bytes,phase", then one row per sample: time with 4 decimals, bytes as integers, the
// phase's name. Lines end with "\n".
std::string ProfileCsv(const std::vector<MemorySample>& samples);

// Indices (ascending, distinct) of the samples the table shows. Always the first and the last
// sample, the sample of peak RSS (the first one if tied) and every sample whose phase differs
// from the previous sample's; if those phase changes alone exceed `max_rows`, an evenly spaced
// subset of them. The remaining room up to `max_rows` is filled with evenly spaced samples, so
// the result has at most max(max_rows, 3) rows, and every sample when there are no more than
// `max_rows`.
std::vector<size_t> TableRows(const std::vector<MemorySample>& samples, size_t max_rows);

// The table of the rows TableRows chooses, then the summary:
//        time |      memory |        delta |           rate | phase
//     0.000 s |    4.12 MiB |            - |              - | idle
//     0.100 s |    9.87 MiB |    +5.75 MiB |   +57.5 MiB/s | load
// memory is RSS; delta is the change since the previous row shown and rate that change divided
// by the time between the two rows. Times have 4 decimals when the whole span is under 10 s. The
// row of peak RSS ends with "<- peak RSS". The summary gives the sample count and span, peak RSS
// and when, the peak of the ledger's total (with its kinds) and of the page cache, and the time
// spent in each phase (each sample's phase is taken to last until the next sample).
std::string ProfileTable(const std::vector<MemorySample>& samples, const ReportOptions& options);

// Writes DIR/memory.csv, DIR/memory.txt (ProfileTable) and DIR/memory.svg (ProfilePlotSvg), each
// to a temporary name first and then renamed. DIR must exist. Stores the table in `*table` when
// given.
Status WriteProfileFiles(const std::string& dir, const std::vector<MemorySample>& samples,
                         const ReportOptions& options, std::string* table = nullptr);

}  // namespace omnisage

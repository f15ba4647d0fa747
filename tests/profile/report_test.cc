// The profile's CSV, table and SVG from hand-made samples.
#include "profile/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/file.h"
#include "profile/plot.h"

namespace omnisage {
namespace {

constexpr uint64_t kMiB = 1 << 20;

MemorySample Sample(double t, uint64_t rss, Phase phase, uint64_t dense = 0, uint64_t experts = 0) {
  MemorySample s;
  s.t_s = t;
  s.rss_bytes = rss;
  s.page_cache_bytes = rss / 2;
  s.ledger[static_cast<int>(MemoryKind::kDense)] = dense;
  s.ledger[static_cast<int>(MemoryKind::kExpertCache)] = experts;
  s.ledger[static_cast<int>(MemoryKind::kKvCache)] = 3;
  s.ledger[static_cast<int>(MemoryKind::kActivations)] = 4;
  s.phase = phase;
  return s;
}

// 1000 samples 10 ms apart: idle, load from 100, prefill from 400, decode from 700; RSS grows by
// 1 MiB per sample except a spike at 555.
std::vector<MemorySample> Series() {
  std::vector<MemorySample> v;
  for (int i = 0; i < 1000; ++i) {
    const Phase p = i < 100   ? Phase::kIdle
                    : i < 400 ? Phase::kLoad
                    : i < 700 ? Phase::kPrefill
                              : Phase::kDecode;
    v.push_back(Sample(i * 0.01, (100 + i) * kMiB, p, 10 * kMiB, i * kMiB / 2));
  }
  v[555].rss_bytes = 5000 * kMiB;
  return v;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

TEST(ProfileCsv, HeaderAndOneRowPerSample) {
  std::vector<MemorySample> v = {Sample(0, 1000, Phase::kIdle, 1, 2),
                                 Sample(0.1, 2000, Phase::kLoad, 10, 20)};
  const std::vector<std::string> lines = Lines(ProfileCsv(v));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "time_s,rss_bytes,page_cache_bytes,dense_bytes,expert_cache_bytes,kv_cache_bytes,"
            "activations_bytes,phase");
  EXPECT_EQ(lines[1], "0.0000,1000,500,1,2,3,4,idle");
  EXPECT_EQ(lines[2], "0.1000,2000,1000,10,20,3,4,load");
}

TEST(TableRows, AllRowsWhenFew) {
  std::vector<MemorySample> v;
  for (int i = 0; i < 10; ++i) v.push_back(Sample(i, i, Phase::kIdle));
  const std::vector<size_t> rows = TableRows(v, 60);
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i], i);
}

TEST(TableRows, CollapsesButKeepsEndsPeakAndPhaseChanges) {
  const std::vector<MemorySample> v = Series();
  const std::vector<size_t> rows = TableRows(v, 60);
  EXPECT_LE(rows.size(), 60u);
  EXPECT_GE(rows.size(), 50u);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  EXPECT_EQ(std::adjacent_find(rows.begin(), rows.end()), rows.end());
  for (size_t must : {size_t{0}, size_t{999}, size_t{555}, size_t{100}, size_t{400}, size_t{700}}) {
    EXPECT_TRUE(std::binary_search(rows.begin(), rows.end(), must)) << must;
  }
}

TEST(TableRows, TooManyPhaseChangesStillBounded) {
  std::vector<MemorySample> v;
  for (int i = 0; i < 500; ++i) {
    v.push_back(Sample(i * 0.01, kMiB, i % 2 == 0 ? Phase::kPrefill : Phase::kDecode));
  }
  v[321].rss_bytes = 9 * kMiB;
  const std::vector<size_t> rows = TableRows(v, 20);
  EXPECT_LE(rows.size(), 20u);
  EXPECT_TRUE(std::binary_search(rows.begin(), rows.end(), size_t{321}));
  EXPECT_TRUE(std::binary_search(rows.begin(), rows.end(), size_t{0}));
  EXPECT_TRUE(std::binary_search(rows.begin(), rows.end(), size_t{499}));
}

TEST(ProfileTable, DeltaRatePeakAndSummary) {
  std::vector<MemorySample> v = {
      Sample(0, 10 * kMiB, Phase::kIdle), Sample(1, 11 * kMiB, Phase::kLoad, 5 * kMiB),
      Sample(2, 9 * kMiB, Phase::kDecode, 5 * kMiB, kMiB), Sample(4, 9 * kMiB, Phase::kIdle)};
  ReportOptions options;
  options.title = "run --model m";
  const std::string t = ProfileTable(v, options);
  EXPECT_NE(t.find("memory profile: run --model m"), std::string::npos) << t;
  EXPECT_NE(t.find("time |      memory |        delta |            rate | phase"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("1.0000 s |   11.00 MiB |    +1.00 MiB |      +1.0 MiB/s | load  <- peak RSS"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("2.0000 s |    9.00 MiB |    -2.00 MiB |      -2.0 MiB/s | decode"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("4.0000 s |    9.00 MiB |          0 B |      +0.0 MiB/s | idle"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("4 samples every 100 ms over 4.0000 s"), std::string::npos) << t;
  EXPECT_NE(t.find("peak RSS: 11.00 MiB at 1.0000 s (load)"), std::string::npos) << t;
  EXPECT_NE(
      t.find("peak ledger total: 6.00 MiB at 2.0000 s (dense 5.00 MiB, expert cache 1.00 MiB"),
      std::string::npos)
      << t;
  EXPECT_NE(
      t.find("time per phase: load 1.0000 s (25%), decode 2.0000 s (50%), idle 1.0000 s (25%)"),
      std::string::npos)
      << t;
  EXPECT_EQ(t.find("prefill"), std::string::npos) << t;
}

TEST(ProfileTable, CollapsedTableSaysSo) {
  const std::string t = ProfileTable(Series(), ReportOptions{});
  EXPECT_NE(t.find("1000 samples every 100 ms"), std::string::npos) << t;
  EXPECT_NE(t.find("shown: evenly spaced, phase changes, the peak"), std::string::npos) << t;
  EXPECT_NE(t.find("4.88 GiB | "), std::string::npos) << t;  // the spike at 555
  EXPECT_NE(t.find("<- peak RSS"), std::string::npos) << t;
}

// Every start tag has its end tag, properly nested; comments, declarations and self-closing tags
// are skipped. Returns the first problem, or "" when the document is balanced.
std::string CheckBalanced(const std::string& xml) {
  std::vector<std::string> stack;
  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string::npos) {
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    const std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (tag.back() == '/') continue;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "unexpected </" + name + ">";
      stack.pop_back();
      continue;
    }
    stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
  }
  return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

TEST(ProfilePlotSvg, WellFormedWithPhasesSeriesAxesAndLegend) {
  const std::string svg = ProfilePlotSvg(Series(), PlotOptions{.title = "run <a & b>"});
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(CheckBalanced(svg), "");
  EXPECT_NE(svg.find("<title>memory profile: run &lt;a &amp; b&gt;</title>"), std::string::npos);
  EXPECT_EQ(svg.find("<a & b>"), std::string::npos);
  // One band per phase run; idle is left unshaded.
  EXPECT_EQ(Count(svg, "class=\"phase-load\""), 1u);
  EXPECT_EQ(Count(svg, "class=\"phase-prefill\""), 1u);
  EXPECT_EQ(Count(svg, "class=\"phase-decode\""), 1u);
  EXPECT_EQ(Count(svg, "class=\"phase-idle\""), 0u);
  for (const char* id : {"id=\"phases\"", "id=\"ledger\"", "id=\"rss\"", "id=\"page-cache\"",
                         "id=\"x-axis\"", "id=\"y-axis\"", "id=\"legend\""}) {
    EXPECT_NE(svg.find(id), std::string::npos) << id;
  }
  for (const char* kind :
       {"ledger-dense", "ledger-expert_cache", "ledger-kv_cache", "ledger-activations"}) {
    EXPECT_NE(svg.find(kind), std::string::npos) << kind;
  }
  // Human units on the axes: the spike of 4.88 GiB puts the y axis in GiB.
  EXPECT_NE(svg.find(" GiB</text>"), std::string::npos);
  EXPECT_NE(svg.find(" s</text>"), std::string::npos);
  for (const char* legend : {">RSS<", ">page cache (model files)<", ">expert cache<", ">KV cache<",
                             ">load<", ">prefill<", ">decode<", ">idle<"}) {
    EXPECT_NE(svg.find(legend), std::string::npos) << legend;
  }
}

TEST(ProfilePlotSvg, ManySamplesAreThinnedButKeepThePeak) {
  std::vector<MemorySample> v;
  for (int i = 0; i < 100000; ++i) v.push_back(Sample(i * 0.005, kMiB, Phase::kDecode));
  v[54321].rss_bytes = 64 * kMiB;
  const std::string svg = ProfilePlotSvg(v, PlotOptions{});
  EXPECT_EQ(CheckBalanced(svg), "");
  const size_t start = svg.find("<polyline id=\"rss\"");
  ASSERT_NE(start, std::string::npos);
  const std::string rss = svg.substr(start, svg.find('>', start) - start);
  EXPECT_LT(Count(rss, ","), 4000u);  // a few points per pixel column, not 100,000
  // The spike reaches the top part of the plot: its y is the smallest of the line.
  EXPECT_LT(svg.size(), 1u << 20);
  EXPECT_NE(svg.find("peak RSS 64.00 MiB"), std::string::npos);
}

TEST(ProfilePlotSvg, EmptyAndSingleSample) {
  EXPECT_EQ(CheckBalanced(ProfilePlotSvg({}, PlotOptions{})), "");
  EXPECT_EQ(CheckBalanced(ProfilePlotSvg({Sample(0, kMiB, Phase::kLoad)}, PlotOptions{})), "");
}

TEST(WriteProfileFiles, WritesThreeFilesAndNoTemporaries) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "omnisage_profile_write";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string table;
  ASSERT_TRUE(WriteProfileFiles(dir.string(), Series(), ReportOptions{}, &table).ok());
  EXPECT_NE(table.find("peak RSS"), std::string::npos);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  }
  EXPECT_EQ(files, 3);
  auto txt = ReadFileToString((dir / "memory.txt").string());
  ASSERT_TRUE(txt.ok());
  EXPECT_EQ(*txt, table);
  EXPECT_TRUE(FileExists((dir / "memory.csv").string()));
  EXPECT_TRUE(FileExists((dir / "memory.svg").string()));
  EXPECT_FALSE(
      WriteProfileFiles((dir / "missing" / "sub").string(), Series(), ReportOptions{}).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

// Expert reads from the disk by --io mode and number of reading threads: the same N experts
// (a fixed pseudo-random pick over every layer) read once each with ReadExpert, as the expert
// cache reads a miss, split over T threads, with every data file dropped from the page cache
// first (so "cached" reads the disk too). Prints a Markdown table: mode, threads, GB/s of the
// whole pass (bytes / wall time) and ms per expert. Compare with `dd iflag=direct` of one of
// the files (bench/io_read.sh does both).
//
//   io_read --model DIR [--experts 256] [--threads 1,2,4,8] [--modes direct,drop,cached]
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/store.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "runtime/options.h"
#include "util/elapsed.h"

namespace omnisage {
namespace {

void DropFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

int Main(const std::string& dir, int count, const std::vector<int>& threads,
         const std::vector<std::string>& modes) {
  std::printf("| --io | threads | experts | GiB | seconds | GB/s | ms per expert |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& mode_name : modes) {
    auto source = OpenWeightSource(dir, nullptr, ParseIoMode(mode_name));
    if (!source.ok()) {
      std::fprintf(stderr, "%s\n", source.status().message().c_str());
      return 1;
    }
    auto config = LoadModelConfig((*source)->config_path());
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", config.status().message().c_str());
      return 1;
    }
    if (Status s = DetectExpertFormats(**source, &*config); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
    const DecoderConfig& c = config->text;
    const Component component =
        config->arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
    const std::string prefix = StackNames(*config, component).prefix;
    std::vector<std::pair<int, int>> all;  // (layer, expert)
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (!c.IsMoeLayer(l)) continue;
      for (int e = 0; e < c.num_experts; ++e) all.emplace_back(static_cast<int>(l), e);
    }
    std::mt19937 rng(7);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(std::min<size_t>(all.size(), static_cast<size_t>(count)));
    const uint64_t expert_bytes = CachedExperts::ExpertBytes(c);
    for (int t : threads) {
      for (const std::string& f : (*source)->files()) DropFromPageCache(f);
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> workers;
      for (int i = 0; i < t; ++i) {
        workers.emplace_back([&] {
          std::vector<uint8_t> buffer(expert_bytes);
          for (size_t k = next++; k < all.size(); k = next++) {
            const auto [layer, expert] = all[k];
            Status s =
                ReadExpert(**source, LayerNames(prefix, layer), expert, c, buffer.data(), false);
            if (!s.ok()) {
              std::fprintf(stderr, "%s\n", s.message().c_str());
              failed = true;
              return;
            }
          }
        });
      }
      for (std::thread& w : workers) w.join();
      const double seconds = SecondsSince(start);
      if (failed) return 1;
      const double bytes = static_cast<double>(all.size() * expert_bytes);
      std::printf("| %s | %d | %zu | %.2f | %.3f | %.2f | %.2f |\n", mode_name.c_str(), t,
                  all.size(), bytes / (1 << 30), seconds, bytes / seconds / 1e9,
                  1e3 * seconds * t / all.size());
      std::fflush(stdout);
    }
  }
  for (const std::string& f : DirectIoFallbacks()) std::fprintf(stderr, "note: %s\n", f.c_str());
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  CLI::App app("Expert read throughput from the disk by --io mode and reading threads");
  std::string model;
  int experts = 256;
  std::vector<int> threads = {1, 2, 4, 8};
  std::vector<std::string> modes = {"direct", "drop", "cached"};
  app.add_option("--model", model, "Checkpoint directory or expert store")->required();
  app.add_option("--experts", experts, "Experts to read per pass")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Reading threads, one pass each")->delimiter(',');
  app.add_option("--modes", modes, "--io modes: direct, drop, cached")
      ->delimiter(',')
      ->check(CLI::IsMember(omnisage::IoModeNames()));
  CLI11_PARSE(app, argc, argv);
  return omnisage::Main(model, experts, threads, modes);
}

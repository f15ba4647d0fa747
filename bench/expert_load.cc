// What checking each expert's checksum costs when it is loaded: reads every routed expert of a
// store's text stack (ReadExpert, as the expert cache does on a miss) with and without
// `verify`, in alternating passes, from the page cache ("warm") or with the files dropped from
// it first ("cold", posix_fadvise DONTNEED on each expert file). Prints a Markdown table:
// experts, bytes, median seconds per pass, GB/s, and the check's share of the load time.
//
//   expert_load --store DIR [--passes N] [--cold]
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/store.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "util/checksum.h"
#include "util/elapsed.h"

namespace omnisage {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void DropFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

int Main(const std::string& dir, int passes, bool cold) {
  auto store = ExpertStore::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  auto config = LoadModelConfig((*store)->config_path());
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  if (Status s = DetectWeightFormats(**store, &*config); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  const DecoderConfig& c = config->text;
  const Component component =
      config->arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  const std::string prefix = StackNames(*config, component).prefix;
  const uint64_t expert_bytes = CachedExperts::ExpertBytes(c);
  std::vector<uint8_t> buffer(expert_bytes);
  struct Expert {
    DecoderLayerNames names;
    int expert;
    std::string path;
  };
  std::vector<Expert> experts;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (!c.IsMoeLayer(l)) continue;
    const DecoderLayerNames names = LayerNames(prefix, l);
    for (int e = 0; e < c.num_experts; ++e) {
      const WeightEntry* t = (*store)->Find(names.Expert(e, ExpertProj::kGate));
      if (t == nullptr) continue;
      experts.push_back({names, e, (*store)->files()[t->file]});
    }
  }
  std::vector<double> seconds[2];
  for (int pass = 0; pass < passes; ++pass) {
    for (int verify : {0, 1}) {
      double total = 0;
      for (const Expert& x : experts) {
        if (cold) DropFromPageCache(x.path);
        const auto start = std::chrono::steady_clock::now();
        Status s = ReadExpert(**store, x.names, x.expert, c, buffer.data(), verify != 0);
        total += SecondsSince(start);
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", s.message().c_str());
          return 1;
        }
      }
      seconds[verify].push_back(total);
    }
  }
  // XXH3 alone over one expert's bytes, for scale.
  const auto start = std::chrono::steady_clock::now();
  uint64_t sink = 0;
  constexpr int kHashes = 200;
  for (int i = 0; i < kHashes; ++i) sink ^= Xxh3(buffer.data(), expert_bytes);
  const double hash_s = SecondsSince(start) / kHashes;
  const uint64_t bytes = experts.size() * expert_bytes;
  const double off = Median(seconds[0]), on = Median(seconds[1]);
  std::printf("%s page cache, %zu experts of %.2f MiB (%.2f GiB), median of %d passes\n\n",
              cold ? "cold" : "warm", experts.size(), expert_bytes / 1048576.0,
              bytes / 1073741824.0, passes);
  std::printf("| checksum | seconds | GB/s | per expert (ms) |\n|---|---:|---:|---:|\n");
  std::printf("| off | %.3f | %.2f | %.3f |\n", off, bytes / off / 1e9, 1e3 * off / experts.size());
  std::printf("| on | %.3f | %.2f | %.3f |\n", on, bytes / on / 1e9, 1e3 * on / experts.size());
  std::printf("\ncost of the check: %+.1f%% of the load time; XXH3 alone: %.2f GB/s (%llx)\n",
              100.0 * (on - off) / off, expert_bytes / hash_s / 1e9,
              static_cast<unsigned long long>(sink & 0xF));
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  CLI::App app("Cost of checking expert checksums at load");
  std::string store;
  int passes = 5;
  bool cold = false;
  app.add_option("--store", store, "Expert store")->required();
  app.add_option("--passes", passes, "Passes over every expert, each way")
      ->check(CLI::PositiveNumber);
  app.add_flag("--cold", cold, "Drop each expert file from the page cache before reading it");
  CLI11_PARSE(app, argc, argv);
  return omnisage::Main(store, passes, cold);
}

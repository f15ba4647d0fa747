// Expert reads from the disk by --io mode and number of reading threads: the same N experts
// (a fixed pseudo-random pick over every layer) read once each with ReadExpert, as the expert
// cache reads a miss, split over T threads, with every data file dropped from the page cache
// first (so "cached" reads the disk too). With --uring-depths, the same experts' bytes are also
// read by one thread through io_uring (liburing) at each queue depth: O_DIRECT, each tensor
// rounded out to 4 KiB blocks and split into 8 MiB requests (the engine's chunk), each into an
// aligned slot of its own and copied out, as `--io direct` does. Prints a Markdown table: mode,
// threads (or queue depth), GB/s of the whole pass (bytes / wall time) and ms per expert.
// Compare with `dd iflag=direct` of one of the files (docs/offload.md).
//
//   io_read --model DIR [--experts 256] [--seed S] [--run N] [--threads 1,2,4,8]
//           [--modes direct,drop,cached] [--uring-depths 1,4,16,64]
// --run N picks runs of N consecutive experts of a layer (next to each other in the files, as a
// layout grouping co-activated experts would put them) instead of experts one by one.
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
#include <utility>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/store.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "runtime/options.h"
#include "util/elapsed.h"

#ifdef OMNISAGE_HAVE_URING
#include <liburing.h>

#include <cstdlib>
#include <cstring>
#endif

namespace omnisage {
namespace {

void DropFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// Where ReadExpert's bytes are: a WeightSource over another's tensors whose Read records the
// range asked for instead of reading it.
class RangeRecorder final : public WeightSource {
 public:
  struct Range {
    int file;
    uint64_t offset;
    uint64_t length;
  };
  explicit RangeRecorder(const WeightSource& real) : real_(real) {
    entries_ = real.tensors();
    BuildIndex();
  }
  std::string_view kind() const override { return real_.kind(); }
  const std::string& path() const override { return real_.path(); }
  const std::string& config_path() const override { return real_.config_path(); }
  const std::vector<std::string>& files() const override { return real_.files(); }
  Status Read(const WeightEntry& t, uint64_t offset, size_t n, void*) const override {
    ranges_.push_back({t.file, t.offset + offset, n});
    return Status::Ok();
  }
  std::vector<Range> Take() { return std::exchange(ranges_, {}); }

 private:
  const WeightSource& real_;
  mutable std::vector<Range> ranges_;
};

#ifdef OMNISAGE_HAVE_URING
// Reads every range once through one io_uring of `depth` entries; returns the wall seconds, or a
// negative value after printing the error.
double UringPass(const std::vector<std::string>& paths,
                 const std::vector<RangeRecorder::Range>& ranges, unsigned depth) {
  constexpr uint64_t kBlock = 4096, kChunk = 8 << 20;
  struct Request {
    int file;
    uint64_t at, length, skip, want;  // aligned offset and length; bytes to copy out
  };
  std::vector<Request> requests;
  for (const RangeRecorder::Range& r : ranges) {
    const uint64_t start = r.offset & ~(kBlock - 1);
    const uint64_t end = (r.offset + r.length + kBlock - 1) & ~(kBlock - 1);
    for (uint64_t at = start; at < end; at += kChunk) {
      const uint64_t len = std::min(kChunk, end - at);
      const uint64_t from = std::max(at, r.offset), to = std::min(at + len, r.offset + r.length);
      requests.push_back({r.file, at, len, from - at, to - from});
    }
  }
  std::vector<int> fds;
  for (const std::string& p : paths) {
    const int fd = open(p.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "%s: open with O_DIRECT: %s\n", p.c_str(), std::strerror(errno));
      for (int f : fds) close(f);
      return -1;
    }
    fds.push_back(fd);
  }
  io_uring ring;
  if (int e = io_uring_queue_init(depth, &ring, 0); e < 0) {
    std::fprintf(stderr, "io_uring_queue_init(%u): %s\n", depth, std::strerror(-e));
    for (int f : fds) close(f);
    return -1;
  }
  std::vector<void*> slots(depth);
  for (void*& s : slots) s = std::aligned_alloc(kBlock, kChunk);
  std::vector<uint8_t> out(kChunk);
  std::vector<unsigned> free_slots;
  for (unsigned i = 0; i < depth; ++i) free_slots.push_back(i);
  std::vector<size_t> slot_request(depth);
  size_t next = 0, done = 0;
  bool failed = false;
  const auto start = std::chrono::steady_clock::now();
  while (done < requests.size() && !failed) {
    while (next < requests.size() && !free_slots.empty()) {
      const unsigned slot = free_slots.back();
      free_slots.pop_back();
      const Request& q = requests[next];
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_read(sqe, fds[q.file], slots[slot], q.length, q.at);
      io_uring_sqe_set_data64(sqe, slot);
      slot_request[slot] = next++;
    }
    io_uring_submit(&ring);
    io_uring_cqe* cqe = nullptr;
    if (int e = io_uring_wait_cqe(&ring, &cqe); e < 0) {
      std::fprintf(stderr, "io_uring_wait_cqe: %s\n", std::strerror(-e));
      failed = true;
      break;
    }
    const unsigned slot = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
    const Request& q = requests[slot_request[slot]];
    if (cqe->res < 0 || static_cast<uint64_t>(cqe->res) < q.skip + q.want) {
      std::fprintf(stderr, "%s: read at %lu: %s\n", paths[q.file].c_str(),
                   static_cast<unsigned long>(q.at),
                   cqe->res < 0 ? std::strerror(-cqe->res) : "short read");
      failed = true;
    } else {
      std::memcpy(out.data(), static_cast<uint8_t*>(slots[slot]) + q.skip, q.want);
    }
    io_uring_cqe_seen(&ring, cqe);
    free_slots.push_back(slot);
    ++done;
  }
  const double seconds = SecondsSince(start);
  io_uring_queue_exit(&ring);
  for (void* s : slots) std::free(s);
  for (int f : fds) close(f);
  return failed ? -1 : seconds;
}
#endif

int Main(const std::string& dir, int count, uint32_t seed, size_t run_length,
         const std::vector<int>& threads, const std::vector<std::string>& modes,
         const std::vector<int>& uring_depths) {
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
    if (Status s = DetectWeightFormats(**source, &*config); !s.ok()) {
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
    std::mt19937 rng(seed);
    if (run_length <= 1) {
      std::shuffle(all.begin(), all.end(), rng);
    } else {  // runs of `run_length` consecutive experts of a layer, the runs in random order
      std::vector<std::vector<std::pair<int, int>>> runs;
      for (size_t i = 0; i < all.size(); i += run_length) {
        const bool same_layer = all[std::min(all.size(), i + run_length) - 1].first == all[i].first;
        if (same_layer)
          runs.emplace_back(all.begin() + i, all.begin() + std::min(all.size(), i + run_length));
      }
      std::shuffle(runs.begin(), runs.end(), rng);
      all.clear();
      for (const auto& r : runs) all.insert(all.end(), r.begin(), r.end());
    }
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
    if (mode_name != modes.front() || uring_depths.empty()) continue;
#ifdef OMNISAGE_HAVE_URING
    RangeRecorder recorder(**source);
    std::vector<uint8_t> scratch(expert_bytes);  // untouched: the recorder reads nothing
    for (const auto& [layer, expert] : all) {
      if (Status s =
              ReadExpert(recorder, LayerNames(prefix, layer), expert, c, scratch.data(), false);
          !s.ok()) {
        std::fprintf(stderr, "%s\n", s.message().c_str());
        return 1;
      }
    }
    const std::vector<RangeRecorder::Range> ranges = recorder.Take();
    for (int depth : uring_depths) {
      for (const std::string& f : (*source)->files()) DropFromPageCache(f);
      const double seconds = UringPass((*source)->files(), ranges, static_cast<unsigned>(depth));
      if (seconds < 0) return 1;
      const double bytes = static_cast<double>(all.size() * expert_bytes);
      std::printf("| io_uring (O_DIRECT) | 1, depth %d | %zu | %.2f | %.3f | %.2f | %.2f |\n",
                  depth, all.size(), bytes / (1 << 30), seconds, bytes / seconds / 1e9,
                  1e3 * seconds / all.size());
      std::fflush(stdout);
    }
#else
    std::fprintf(stderr, "io_read: built without liburing; --uring-depths ignored\n");
#endif
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
  std::vector<int> uring_depths;
  uint32_t seed = 7;
  size_t run_length = 1;
  app.add_option("--model", model, "Checkpoint directory or expert store")->required();
  app.add_option("--experts", experts, "Experts to read per pass")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Seed of the pseudo-random pick of experts");
  app.add_option("--run", run_length,
                 "Pick runs of this many consecutive experts of a layer (stored side by side in "
                 "the checkpoint), the runs in random order (1: experts one by one)")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Reading threads, one pass each (none: 0)")->delimiter(',');
  app.add_option("--modes", modes, "--io modes: direct, drop, cached")
      ->delimiter(',')
      ->check(CLI::IsMember(omnisage::IoModeNames()));
  app.add_option("--uring-depths", uring_depths,
                 "Also read the experts through io_uring at these queue depths (after the first "
                 "mode's passes)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  CLI11_PARSE(app, argc, argv);
  threads.erase(std::remove(threads.begin(), threads.end(), 0), threads.end());
  return omnisage::Main(model, experts, seed, run_length, threads, modes, uring_depths);
}

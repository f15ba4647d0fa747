// Micro-benchmarks of the kernels, measured against the limit (architecture.md §3.10).
//
//   MemoryRead/streams:S/threads:T  streaming read of a 1 GiB buffer, as one sequential stream or
//                                 as four side by side: the bandwidth a GEMV can hope for on T
//                                 threads.
//   MatMulBf16/<shape>/rows:R/threads:T   ops::MatMulBf16 on the real Qwen3 shapes; bytes/s count
//                                 the weight bytes (bf16), `of_read_bw` is that rate as a fraction
//                                 of the best MemoryRead on the same number of threads.
//   MatMulBf16Hot/...             one copy of an expert matrix, cache-resident: the kernel's speed
//                                 without DRAM (of_read_bw > 1 means faster than memory).
//   MatMulBf16Ref/...             the scalar reference, for the speed-up.
//   MatMulQuant/<format>/<kernel>/<shape>/rows:R/threads:T   ops::MatMulQuant on int8 and int4
//                                 (g32, g128) copies of the same weights, dequantizing or with
//                                 int8 dot products (VNNI); bytes/s count the stored bytes,
//                                 `params` the weights multiplied per second (compare with
//                                 MatMulBf16's bytes/s / 2).
//
// Weights are cold, as in decode: each iteration multiplies a different copy of the matrix, and
// the copies together are far larger than the last-level cache.
//
// Run: build/bench/ops_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "ops/quant.h"
#include "ops/ref/kernels.h"
#include "tensor/bf16.h"
#include "util/elapsed.h"
#include "util/thread_pool.h"

namespace omnisage {

// Σ p[begin, end) with whole-register loads into independent accumulators (stream_read.cc,
// Highway), so the loop is bound by memory, not by instructions (plain scalar code reads ~30%
// slower on one core). `streams`: 1 (one sequential stream) or 4 (four side by side).
uint64_t SumRange(const uint64_t* p, int64_t begin, int64_t end, int streams);

namespace {

constexpr int64_t kMiB = 1024 * 1024;
// Weight copies in rotation add up to at least this much (8x a 32 MiB L3).
constexpr int64_t kColdBytes = 256 * kMiB;
constexpr int64_t kReadBytes = 1024 * kMiB;

ThreadPool* Pool(int threads) {
  static ThreadPool* pools[3] = {nullptr, new ThreadPool(1), new ThreadPool(2)};
  return pools[std::clamp(threads, 1, 2)];
}

// Random bf16 weights of magnitude ~0.01-0.1 (xorshift: filling 600 MB must be quick).
void FillWeights(uint16_t* w, int64_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const float f = (static_cast<float>(s >> 40) / (1 << 24) - 0.5f) * 0.2f;
    w[i] = FloatToBf16(f);
  }
}

// --- streaming read ----------------------------------------------------------------------------

const std::vector<uint64_t>& ReadBuffer() {
  static const std::vector<uint64_t> buf = [] {
    std::vector<uint64_t> b(kReadBytes / sizeof(uint64_t));
    for (size_t i = 0; i < b.size(); ++i) b[i] = i * 0x9E3779B97F4A7C15ull;
    return b;
  }();
  return buf;
}

double ReadOnce(int threads, int streams) {
  const std::vector<uint64_t>& buf = ReadBuffer();
  const int64_t n = static_cast<int64_t>(buf.size());
  std::atomic<uint64_t> total{0};
  const auto start = std::chrono::steady_clock::now();
  Pool(threads)->ParallelFor(threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      total += SumRange(buf.data(), n * t / threads, n * (t + 1) / threads, streams);
    }
  });
  benchmark::DoNotOptimize(total.load());
  return SecondsSince(start);
}

void BM_MemoryRead(benchmark::State& state, int threads, int streams) {
  for (auto _ : state) state.SetIterationTime(ReadOnce(threads, streams));
  state.SetBytesProcessed(state.iterations() * kReadBytes);
}

// The achievable read bandwidth on `threads` threads, for the of_read_bw counters: the best of a
// few passes of either access pattern, measured once per process.
double ReadBandwidth(int threads) {
  static double bw[3] = {0, 0, 0};
  if (bw[threads] == 0) {
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {
      for (int streams : {1, 4}) best = std::min(best, ReadOnce(threads, streams));
    }
    bw[threads] = kReadBytes / best;
  }
  return bw[threads];
}

// --- MatMulBf16 --------------------------------------------------------------------------------

struct Shape {
  const char* name;
  int64_t out, in;
};
const Shape kShapes[] = {
    {"expert_gate_up_768x2048", 768, 2048},
    {"expert_down_2048x768", 2048, 768},
    {"q_proj_4096x2048", 4096, 2048},
    {"lm_head_152064x2048", 152064, 2048},
};

// Enough copies of the weights to defeat the caches, allocated once per shape.
const std::vector<std::unique_ptr<uint16_t[]>>& Weights(const Shape& s) {
  static std::vector<std::unique_ptr<uint16_t[]>> cache[std::size(kShapes)];
  auto& copies = cache[&s - kShapes];
  if (copies.empty()) {
    const int64_t bytes = s.out * s.in * 2;
    const int64_t n = std::max<int64_t>(1, (kColdBytes + bytes - 1) / bytes);
    for (int64_t c = 0; c < n; ++c) {
      copies.emplace_back(new uint16_t[s.out * s.in]);
      FillWeights(copies.back().get(), s.out * s.in, c + 1);
    }
  }
  return copies;
}

// `hot`: always the same copy, which stays in the caches when it fits (3 MiB experts in a 32 MiB
// L3): the kernel's own speed, without DRAM.
void RunMatMul(benchmark::State& state, const Shape& s, int64_t rows, int threads, bool ref,
               bool hot = false) {
  const auto& copies = Weights(s);
  std::vector<float> x(rows * s.in), y(rows * s.out);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.01f - 0.08f;
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const uint16_t* w = copies[next].get();
    if (!hot) next = (next + 1) % copies.size();
    if (ref) {
      ref::MatMulBf16(x.data(), rows, s.in, w, s.out, y.data());
    } else {
      ops::MatMulBf16(x.data(), rows, s.in, w, s.out, y.data(), Pool(threads));
    }
    benchmark::ClobberMemory();
  }
  const double seconds = SecondsSince(start);
  const double weight_bytes = 2.0 * s.out * s.in;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * weight_bytes));
  state.counters["flops"] = benchmark::Counter(2.0 * rows * s.out * s.in * state.iterations(),
                                               benchmark::Counter::kIsRate);
  // Weight bytes per second over the streaming-read bandwidth on as many threads.
  state.counters["of_read_bw"] =
      state.iterations() * weight_bytes / seconds / ReadBandwidth(ref ? 1 : threads);
}

// Cold copies of the shape's weights in `format`, quantized once and copied.
const std::vector<std::vector<uint8_t>>& QuantWeights(const Shape& s, WeightFormat format,
                                                      int64_t group) {
  static std::vector<std::vector<uint8_t>> cache[std::size(kShapes)][3];
  auto& copies = cache[&s - kShapes][format == WeightFormat::kInt8 ? 0 : group == 32 ? 1 : 2];
  if (copies.empty()) {
    const uint64_t bytes = LayoutOf(format, s.out, s.in, group).total();
    const int64_t n = std::max<int64_t>(1, (kColdBytes + bytes - 1) / bytes);
    copies.emplace_back(bytes);
    QuantizeBf16(format, Weights(s)[0].get(), s.out, s.in, group, copies.back().data());
    for (int64_t c = 1; c < n; ++c) copies.push_back(copies[0]);
  }
  return copies;
}

void RunMatMulQuant(benchmark::State& state, const Shape& s, WeightFormat format, int64_t group,
                    ops::QuantKernel kernel, int64_t rows, int threads) {
  const auto& copies = QuantWeights(s, format, group);
  std::vector<float> x(rows * s.in), y(rows * s.out);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.01f - 0.08f;
  size_t next = 0;
  for (auto _ : state) {
    const QuantMatrix m = QuantMatrix::Of(format, s.out, s.in, group, copies[next].data());
    next = (next + 1) % copies.size();
    ops::MatMulQuant(x.data(), rows, s.in, m, s.out, y.data(), Pool(threads), kernel);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * copies[0].size()));
  state.counters["params"] = benchmark::Counter(
      static_cast<double>(s.out) * s.in * state.iterations(), benchmark::Counter::kIsRate);
}

void RegisterQuant() {
  const struct {
    const char* name;
    WeightFormat format;
    int64_t group;
  } formats[] = {{"int8", WeightFormat::kInt8, 0},
                 {"int4g32", WeightFormat::kInt4, 32},
                 {"int4g128", WeightFormat::kInt4, 128}};
  for (const auto& f : formats) {
    for (ops::QuantKernel kernel : {ops::QuantKernel::kDequant, ops::QuantKernel::kInt8Dot}) {
      if (kernel == ops::QuantKernel::kInt8Dot && !ops::HasInt8Dot()) continue;
      for (const Shape& s : kShapes) {
        if (s.out > 10000) continue;
        for (int64_t rows : {1, 64}) {
          for (int threads : {1, 2}) {
            const std::string name =
                std::string("MatMulQuant/") + f.name +
                (kernel == ops::QuantKernel::kDequant ? "/dequant/" : "/int8dot/") + s.name +
                "/rows:" + std::to_string(rows) + "/threads:" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [&s, f, kernel, rows, threads](benchmark::State& st) {
                                           RunMatMulQuant(st, s, f.format, f.group, kernel, rows,
                                                          threads);
                                         })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

void RegisterAll() {
  RegisterQuant();
  for (int streams : {1, 4}) {
    for (int threads : {1, 2}) {
      const std::string name =
          "MemoryRead/streams:" + std::to_string(streams) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [threads, streams](benchmark::State& st) { BM_MemoryRead(st, threads, streams); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const Shape& s : kShapes) {
    for (int64_t rows : {1, 64}) {
      for (int threads : {1, 2}) {
        const std::string name = std::string("MatMulBf16/") + s.name +
                                 "/rows:" + std::to_string(rows) +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [&s, rows, threads](benchmark::State& st) { RunMatMul(st, s, rows, threads, false); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
      if (rows == 1 && s.out * s.in * 2 <= 4 * kMiB) {
        const std::string name = std::string("MatMulBf16Hot/") + s.name + "/rows:1/threads:1";
        benchmark::RegisterBenchmark(
            name.c_str(),
            [&s](benchmark::State& st) { RunMatMul(st, s, 1, 1, false, /*hot=*/true); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
      // The reference is single-threaded; at 64 rows the lm_head would take ~a minute per run.
      if (rows == 64 && s.out > 10000) continue;
      const std::string name =
          std::string("MatMulBf16Ref/") + s.name + "/rows:" + std::to_string(rows);
      benchmark::RegisterBenchmark(
          name.c_str(), [&s, rows](benchmark::State& st) { RunMatMul(st, s, rows, 1, true); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  omnisage::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

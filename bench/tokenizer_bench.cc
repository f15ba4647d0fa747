// tokenizer_bench: encode throughput of the tokenizer on the golden strings (MB/s of UTF-8 input),
// with the piece cache cold, warm and off, on one thread and on several.
//
//   tokenizer_bench [--model DIR] [--golden FILE] [--repeats N] [--threads N]
//
// Without --model it builds the Qwen3-Omni tokenizer from data/qwen3-tokenizer as the tests do.
// Compare with HF: python tools/reference/make_tokenizer_fixtures.py --bench
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_tokenizers.h"
#include "tokenizer/tokenizer.h"
#include "util/elapsed.h"

#ifndef OMNISAGE_SOURCE_DIR
#define OMNISAGE_SOURCE_DIR "."
#endif

namespace omnisage {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<Tokenizer> Make(const std::string& model, size_t cache) {
  TokenizerOptions options;
  options.cache_capacity = cache;
  StatusOr<std::unique_ptr<Tokenizer>> t =
      model.empty() ? [&]() -> StatusOr<std::unique_ptr<Tokenizer>> {
    OMNI_ASSIGN_OR_RETURN(std::string json,
                          testing::MakeTokenizerJson(std::string(OMNISAGE_SOURCE_DIR) + "/data",
                                                     testing::TestTokenizer::kQwen3Omni));
    return Tokenizer::FromJson(json, "tokenizer.json", options);
  }()
      : Tokenizer::Load(model, options);
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", t.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*t);
}

// Encodes every text `repeats` times on `threads` threads; returns the best time of one pass.
double TimePasses(const Tokenizer& tok, const std::vector<testing::GoldenCase>& golden, int repeats,
                  int threads, size_t* tokens) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    std::vector<size_t> counts(threads, 0);
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t i = t; i < golden.size(); i += threads) {
          counts[t] += tok.Encode(golden[i].text).size();
        }
      });
    }
    for (std::thread& th : pool) th.join();
    best = std::min(best, SecondsSince(start));
    *tokens = 0;
    for (size_t c : counts) *tokens += c;
  }
  return best;
}

int Main(int argc, char** argv) {
  std::string model;
  std::string golden_path =
      std::string(OMNISAGE_SOURCE_DIR) + "/tests/golden/tokenizer/qwen3_omni.jsonl";
  int repeats = 5;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--model") == 0)
      model = argv[i + 1];
    else if (std::strcmp(argv[i], "--golden") == 0)
      golden_path = argv[i + 1];
    else if (std::strcmp(argv[i], "--repeats") == 0)
      repeats = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--threads") == 0)
      threads = std::atoi(argv[i + 1]);
  }
  auto golden = testing::ReadGolden(golden_path);
  if (!golden.ok()) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", golden.status().ToString().c_str());
    return 1;
  }
  size_t bytes = 0;
  for (const auto& c : *golden) bytes += c.text.size();
  const double mb = static_cast<double>(bytes) / 1e6;

  auto start = Clock::now();
  std::unique_ptr<Tokenizer> tok = Make(model, TokenizerOptions().cache_capacity);
  std::printf("load: %.2f s\n", SecondsSince(start));
  size_t mismatches = 0;
  for (const auto& c : *golden) mismatches += tok->Encode(c.text) != c.ids;
  std::printf("%zu strings, %.3f MB, %zu mismatches with the golden ids\n", golden->size(), mb,
              mismatches);

  std::unique_ptr<Tokenizer> cold = Make(model, TokenizerOptions().cache_capacity);
  size_t tokens = 0;
  const double t_cold = TimePasses(*cold, *golden, 1, 1, &tokens);
  std::printf("1 thread, cache cold : %7.2f MB/s  %6.2f M tokens/s\n", mb / t_cold,
              tokens / t_cold / 1e6);
  const double t_warm = TimePasses(*tok, *golden, repeats, 1, &tokens);
  std::printf("1 thread, cache warm : %7.2f MB/s  %6.2f M tokens/s\n", mb / t_warm,
              tokens / t_warm / 1e6);
  std::unique_ptr<Tokenizer> off = Make(model, 0);
  const double t_off = TimePasses(*off, *golden, repeats, 1, &tokens);
  std::printf("1 thread, no cache   : %7.2f MB/s  %6.2f M tokens/s\n", mb / t_off,
              tokens / t_off / 1e6);
  if (threads > 1) {
    const double t_par = TimePasses(*tok, *golden, repeats, threads, &tokens);
    std::printf("%d threads, warm     : %7.2f MB/s  %6.2f M tokens/s\n", threads, mb / t_par,
                tokens / t_par / 1e6);
  }
  return mismatches == 0 ? 0 : 1;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) { return omnisage::Main(argc, argv); }

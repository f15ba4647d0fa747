// Choosing the next token from logits: repetition penalty, then temperature, top-k, top-p and
// min-p (the order of HF transformers' logits processors), then a draw from a seeded generator.
// Temperature 0 is greedy (argmax after the repetition penalty). Not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "util/options.h"

namespace omnisage {

struct SamplerOptions {
  float temperature = 0.0f;         // 0: greedy
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens already seen
  uint64_t seed = 0;

  // Each option once, with its flag name, help and valid range (util/options.h).
  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(temperature, {.name = "temperature", .help = "0 is greedy", .min = 0});
    v(top_k, {.name = "top-k", .help = "Keep the k most likely tokens (0: off)", .min = 0});
    v(top_p, {.name = "top-p", .help = "Nucleus mass (1: off)", .min = 0, .max = 1});
    v(min_p, {.name = "min-p",
              .help = "Drop tokens below min-p x the top probability",
              .min = 0,
              .max = 1});
    v(repetition_penalty,
      {.name = "repetition-penalty", .help = "1: off", .min = 0, .above_min = true});
    v(seed, {.name = "seed", .help = "Sampling seed"});
  }
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options) : o_(options), rng_(options.seed) {}

  // `logits` [vocab] are modified in place. `history`: prompt and generated ids so far.
  int32_t Sample(float* logits, int64_t vocab, const std::vector<int32_t>& history);

  const SamplerOptions& options() const { return o_; }

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
  std::vector<int32_t> ids_;
  std::vector<float> probs_;
};

}  // namespace omnisage

#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace omnisage {

int32_t Sampler::Sample(float* logits, int64_t vocab, const std::vector<int32_t>& history) {
  if (o_.repetition_penalty != 1.0f) {
    // Each distinct id once, as transformers' RepetitionPenaltyLogitsProcessor (a gather/scatter).
    std::vector<int32_t> seen(history);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= vocab) continue;
      float& l = logits[id];
      l = l > 0 ? l / o_.repetition_penalty : l * o_.repetition_penalty;
    }
  }
  if (o_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  }
  for (int64_t i = 0; i < vocab; ++i) logits[i] /= o_.temperature;
  // Candidates by descending logit (ties: lower id first).
  ids_.resize(vocab);
  std::iota(ids_.begin(), ids_.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  int64_t keep = vocab;
  if (o_.top_k > 0 && o_.top_k < vocab) {
    keep = o_.top_k;
    std::partial_sort(ids_.begin(), ids_.begin() + keep, ids_.end(), by_logit);
  } else {
    std::sort(ids_.begin(), ids_.end(), by_logit);
  }
  probs_.resize(keep);
  const float max_logit = logits[ids_[0]];
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    probs_[i] = std::exp(logits[ids_[i]] - max_logit);
    sum += probs_[i];
  }
  for (int64_t i = 0; i < keep; ++i) probs_[i] = static_cast<float>(probs_[i] / sum);
  if (o_.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (at least one token).
    double mass = 0;
    int64_t n = 0;
    while (n < keep) {
      mass += probs_[n++];
      if (mass >= o_.top_p) break;
    }
    keep = n;
  }
  if (o_.min_p > 0.0f) {
    const float floor = o_.min_p * probs_[0];
    int64_t n = 1;
    while (n < keep && probs_[n] >= floor) ++n;
    keep = n;
  }
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += probs_[i];
  std::uniform_real_distribution<double> uniform(0.0, total);
  double r = uniform(rng_);
  for (int64_t i = 0; i < keep; ++i) {
    r -= probs_[i];
    if (r <= 0) return ids_[i];
  }
  return ids_[keep - 1];
}

}  // namespace omnisage

#include "sage/selector.h"

#include <algorithm>
#include <numeric>

namespace omnisage {

SageSelector::SageSelector(Component component, const TrustTable* trust,
                           const SalienceTracker* salience, const StateMachine* states,
                           ResidencyFn resident)
    : component_(component),
      trust_(trust),
      salience_(salience),
      states_(states),
      resident_(std::move(resident)) {}

int SageSelector::Select(int layer, int64_t position, const float* probs, int num_experts, int k,
                         bool norm_topk_prob, int32_t* experts, float* weights) {
  const int n = std::max(num_experts, 1);
  k = std::clamp(k, 1, n);
  const MetabolicState state = states_ != nullptr ? states_->state() : MetabolicState::kFocus;
  const int k_state = ExpertsPerToken(state, k, n);

  const Snarc snarc = salience_ != nullptr ? salience_->last() : Snarc{};
  const double per_token = kScoreSalienceWeight * snarc.surprise * snarc.novelty;
  trust_row_.assign(n, 0.5);
  if (trust_ != nullptr) trust_->TrustOfLayer(component_, layer, n, trust_row_.data());
  float max_p = 0.0f;
  for (int e = 0; e < n; ++e) max_p = std::max(max_p, probs[e]);
  scores_.resize(n);
  for (int e = 0; e < n; ++e) {
    const double router = max_p > 0.0f ? static_cast<double>(probs[e]) / max_p : 0.0;
    const double focus = resident_ && resident_(layer, e) ? 1.0 : 0.0;
    scores_[e] = kScoreRouterWeight * router + per_token +
                 kScoreTrustWeight * snarc.reward * trust_row_[e] + kScoreFocusWeight * focus;
  }

  // Ties on score fall back on the router's order, so that equal scores (neutral signals,
  // rounding) rank exactly as SelectTopK does.
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  std::partial_sort(order_.begin(), order_.begin() + k_state, order_.end(),
                    [&](int32_t a, int32_t b) {
                      if (scores_[a] != scores_[b]) return scores_[a] > scores_[b];
                      if (probs[a] != probs[b]) return probs[a] > probs[b];
                      return a < b;
                    });
  float sum = 0.0f;
  for (int i = 0; i < k_state; ++i) sum += probs[order_[i]];
  for (int i = 0; i < k_state; ++i) {
    experts[i] = order_[i];
    weights[i] = norm_topk_prob && sum > 0.0f ? probs[order_[i]] / sum : probs[order_[i]];
  }

  // Counters: compare with the router's own order.
  exact_.resize(n);
  std::iota(exact_.begin(), exact_.end(), 0);
  const int top = std::max(k, k_state);
  std::partial_sort(exact_.begin(), exact_.begin() + top, exact_.end(), [&](int32_t a, int32_t b) {
    return probs[a] != probs[b] ? probs[a] > probs[b] : a < b;
  });
  in_exact_.assign(n, 0);  // 1: in the exact top-k_state, 2: in the exact top-k (bit flags)
  for (int i = 0; i < k_state; ++i) in_exact_[exact_[i]] |= 1;
  for (int i = 0; i < k; ++i) in_exact_[exact_[i]] |= 2;
  for (int i = 0; i < k_state; ++i) {
    if (!(in_exact_[experts[i]] & 1)) ++counters_.swapped;
    if (!(in_exact_[experts[i]] & 2)) ++counters_.outside_model_topk;
  }
  if (lowest_layer_ < 0 || layer < lowest_layer_) lowest_layer_ = layer;
  if (layer == lowest_layer_) ++counters_.tokens;
  ++counters_.decisions;
  counters_.chosen += k_state;
  counters_.model_k += k;
  return k_state;
}

}  // namespace omnisage

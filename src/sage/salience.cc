#include "sage/salience.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace omnisage {

double CombinedSalience(const Snarc& s) {
  return (s.surprise + s.novelty + s.arousal + s.conflict + std::abs(s.reward - 0.5) * 2.0) / 5.0;
}

SalienceTracker::SalienceTracker(const Options& options) : o_(options) {
  o_.num_experts = std::max(o_.num_experts, 1);
  o_.window = std::max(o_.window, 1);
  o_.ema_alpha = std::clamp(o_.ema_alpha, 0.0, 1.0);
}

void SalienceTracker::OnRouting(const RoutingEvent& e) {
  const int n = o_.num_experts;
  Pending& p = pending_[e.position];
  ++p.layers;
  // Arousal: normalised router entropy.
  double h = 0.0;
  for (int i = 0; i < n; ++i) {
    const double q = e.probs[i];
    if (q > 0.0) h -= q * std::log(q);
  }
  p.arousal_sum += n > 1 ? std::clamp(h / std::log(static_cast<double>(n)), 0.0, 1.0) : 0.0;
  // Conflict: how close the (k+1)-th largest probability comes to the k-th.
  const int k = o_.top_k;
  double conflict = 0.0;
  if (k >= 1 && k < n) {
    scratch_.assign(e.probs, e.probs + n);
    std::nth_element(scratch_.begin(), scratch_.begin() + k, scratch_.end(), std::greater<>());
    const double pk1 = scratch_[k];  // (k+1)-th largest
    const double pk = *std::min_element(scratch_.begin(), scratch_.begin() + k);
    conflict = pk > 0.0 ? std::clamp(1.0 - (pk - pk1) / pk, 0.0, 1.0) : 0.0;
  }
  p.conflict_sum += conflict;
  p.chosen.emplace_back(e.layer, std::vector<int32_t>(e.experts, e.experts + e.k));
}

void SalienceTracker::OnSampled(const float* logits, int64_t vocab, int32_t token) {
  if (vocab <= 0 || token < 0 || token >= vocab) return;
  // log p(token) = logit − logsumexp(logits), computed stably.
  double max = logits[0];
  for (int64_t i = 1; i < vocab; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_p = static_cast<double>(logits[token]) - max - std::log(sum);
  surprise_ = vocab > 1 ? std::clamp(-log_p / std::log(static_cast<double>(vocab)), 0.0, 1.0) : 0.0;
  sampled_ = true;
}

void SalienceTracker::OnSampledProbability(double p, int64_t vocab) {
  if (vocab <= 1) {
    surprise_ = 0.0;
  } else if (!(p > 0.0)) {
    surprise_ = 1.0;
  } else {
    surprise_ = std::clamp(-std::log(p) / std::log(static_cast<double>(vocab)), 0.0, 1.0);
  }
  sampled_ = true;
}

void SalienceTracker::SetReward(double r) {
  if (std::isnan(r)) return;
  reward_ = (std::clamp(r, -1.0, 1.0) + 1.0) / 2.0;
}

void SalienceTracker::EndToken() {
  if (pending_.empty()) {
    Finalise(nullptr);
  } else {
    for (const auto& [position, p] : pending_) Finalise(&p);
    pending_.clear();
  }
  sampled_ = false;
  surprise_ = 0.5;
}

void SalienceTracker::Finalise(const Pending* p) {
  Snarc s;
  s.surprise = sampled_ ? surprise_ : 0.5;
  s.reward = reward_;
  if (p != nullptr && p->layers > 0) {
    s.arousal = p->arousal_sum / p->layers;
    s.conflict = p->conflict_sum / p->layers;
    double overlap_sum = 0.0;
    for (const auto& [layer, experts] : p->chosen) {
      LayerHistory& h = history_[layer];
      if (h.count.empty()) h.count.assign(o_.num_experts, 0);
      int seen = 0;
      for (int32_t e : experts) {
        if (e >= 0 && e < o_.num_experts && h.count[e] > 0) ++seen;
      }
      overlap_sum += experts.empty() ? 1.0 : static_cast<double>(seen) / experts.size();
      // Advance the window by this token.
      h.window.push_back(experts);
      for (int32_t e : experts) {
        if (e >= 0 && e < o_.num_experts) ++h.count[e];
      }
      if (static_cast<int>(h.window.size()) > o_.window) {
        for (int32_t e : h.window.front()) {
          if (e >= 0 && e < o_.num_experts) --h.count[e];
        }
        h.window.pop_front();
      }
    }
    s.novelty = 1.0 - overlap_sum / p->chosen.size();
  }
  s.salience = CombinedSalience(s);
  ema_ = tokens_ == 0 ? s.salience : (1.0 - o_.ema_alpha) * ema_ + o_.ema_alpha * s.salience;
  ++tokens_;
  last_ = s;
}

}  // namespace omnisage

// SalienceTracker: SNARC salience per token, from signals the engine already computes. Every
// component is in [0, 1] (definitions as implemented; docs/sage.md):
//
//   surprise  −log p(sampled token) / log(vocab), clamped to [0, 1]; p from the model's own
//             distribution (softmax of the raw logits, temperature 1). OnSampled.
//   novelty   1 − mean over the token's MoE layers of |chosen now ∩ chosen in that layer in any of
//             the previous W (= 16) tokens| / (number chosen now). 1: all experts new; 0: all
//             seen recently. The first token of a layer has no history: novelty 1.
//   arousal   mean over layers of H(router softmax) / log(num_experts): 1 for a uniform router,
//             0 for a one-hot one.
//   reward    (r + 1) / 2 for the last SetReward(r), r in [−1, 1]; 0.5 (neutral) until then. It
//             persists across tokens until set again.
//   conflict  mean over layers of 1 − (p_k − p_{k+1}) / p_k, where p_i is the i-th largest router
//             probability and k the model's top-k: 1 when the k-th and (k+1)-th tie (the top-k
//             boundary is a coin toss), 0 when p_{k+1} = 0; 0 too when p_k = 0 (no probability
//             at stake) or k ≥ num_experts.
//   salience  mean(surprise, novelty, arousal, conflict, |reward − 0.5| · 2), and its EMA
//             (alpha ema_alpha, default 0.1; the first token sets it), which drives the
//             metabolic state machine.
//
// Per token: OnRouting for each MoE layer (the decoder's routing observer), OnSampled once the
// next token is drawn, then EndToken, which finalises the token and makes it last(). A prefill
// batch reports all its tokens' routing layer by layer; EndToken finalises every position seen
// since the previous EndToken in position order (novelty windows advance token by token), and
// they all take the surprise of the one OnSampled call (0.5 when there was none). An EndToken
// with no routing since the previous one finalises one token whose routing terms read 0.5.
//
// Not thread-safe: one owner (the forward thread) calls all methods.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "model/decoder.h"

namespace omnisage {

struct Snarc {
  double surprise = 0.5;
  double novelty = 0.5;
  double arousal = 0.5;
  double reward = 0.5;  // mapped to [0, 1]: 0.5 is neutral
  double conflict = 0.5;
  double salience = 0.4;  // the combined value of the fields above
};

// mean(surprise, novelty, arousal, conflict, |reward − 0.5| · 2).
double CombinedSalience(const Snarc& s);

class SalienceTracker {
 public:
  struct Options {
    int num_experts = 0;  // router width
    int top_k = 0;        // the model's num_experts_per_tok (for conflict)
    int window = 16;      // W, tokens of routing history per layer (for novelty)
    double ema_alpha = 0.1;
  };
  explicit SalienceTracker(const Options& options);

  // One layer's routing of one token; reads e.probs [num_experts] and e.experts [e.k] now.
  void OnRouting(const RoutingEvent& e);
  // The model's logits [vocab] for the step and the token drawn from them.
  void OnSampled(const float* logits, int64_t vocab, int32_t token);
  // The same when the caller already has p(sampled token).
  void OnSampledProbability(double p, int64_t vocab);
  // r in [−1, 1] (clamped); persists until set again.
  void SetReward(double r);
  // Finalises the pending token(s); see the header comment.
  void EndToken();

  const Snarc& last() const { return last_; }  // the last finalised token (neutral before any)
  double ema() const { return ema_; }          // 0 before any token
  int64_t tokens() const { return tokens_; }
  const Options& options() const { return o_; }

 private:
  struct Pending {
    int layers = 0;
    double arousal_sum = 0.0;
    double conflict_sum = 0.0;
    std::vector<std::pair<int, std::vector<int32_t>>> chosen;  // (layer, experts)
  };
  struct LayerHistory {
    std::deque<std::vector<int32_t>> window;  // the last W tokens' choices, oldest first
    std::vector<int> count;                   // [num_experts] tokens in the window choosing e
  };
  void Finalise(const Pending* p);

  Options o_;
  std::map<int64_t, Pending> pending_;  // by absolute position
  std::map<int, LayerHistory> history_;
  double surprise_ = 0.5;
  bool sampled_ = false;
  double reward_ = 0.5;
  Snarc last_;
  double ema_ = 0.0;
  int64_t tokens_ = 0;
  std::vector<float> scratch_;
};

}  // namespace omnisage

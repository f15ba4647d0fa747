// SageSelector: SAGE's choice of experts for one token in one MoE layer (an ExpertSelector,
// model/expert_selector.h). APPROXIMATE: whenever it picks other experts than the router's
// top-k, or another number of them, the layer's output differs from the model's reference.
//
// Score of expert e, as implemented:
//   score_e = 0.5 · p_e / max_j p_j              router: the router's favourite scores 0.5
//           + 0.2 · surprise · novelty           per token (SNARC of the previous token)
//           + 0.2 · reward · trust_e             reward of the previous token, TrustTable::Trust
//           + 0.1 · focus_e                      1 if the expert is resident now, else 0
// The k_state experts with the highest scores are chosen, where k_state =
// ExpertsPerToken(state, k, num_experts) (sage/metabolic.h: 4 / 8 / 16 for K = 8); ties go to
// the higher router probability, then the lower index. Their mixing weights are their router
// probabilities, renormalised to sum 1 when norm_topk_prob (else raw), as in exact routing;
// they are listed in score order.
//
// What moves the choice away from the router's:
//   - surprise · novelty is one number per token, the same for every expert: it shifts all
//     scores equally and never changes the ranking. Salience acts through the state machine,
//     which sets k_state (more experts when salience is high).
//   - reward · trust_e ranks experts by trust, scaled by reward: at reward 0 (r = −1) trust is
//     ignored; at neutral reward (0.5) a trust gap of Δ is worth 0.1·Δ, i.e. a router gap of
//     0.2·Δ in p_e / max p.
//   - focus_e favours resident experts by 0.1, a router gap of 0.2 in p_e / max p: a resident
//     expert beats a non-resident j of equal trust when p_j − p_e < 0.2 · max p (at equality
//     the higher probability wins). This is the memory-saving term: it avoids loads at the cost
//     of accuracy.
// With uniform trust (e.g. no records: 0.5 each), no residency callback (or all experts equally
// resident) and k_state = k (FOCUS), the choice is exactly SelectTopK's, in the same order.
//
// Not thread-safe: the decoder calls Select from the forward thread, one token at a time. The
// trust table, salience tracker and state machine are read, never written, and must outlive
// the selector (any may be null: neutral trust, neutral SNARC, FOCUS).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/expert_selector.h"
#include "model/tensor_table.h"
#include "sage/metabolic.h"
#include "sage/salience.h"
#include "sage/trust.h"

namespace omnisage {

inline constexpr double kScoreRouterWeight = 0.5;
inline constexpr double kScoreSalienceWeight = 0.2;
inline constexpr double kScoreTrustWeight = 0.2;
inline constexpr double kScoreFocusWeight = 0.1;

// Whether (layer, expert) is resident now, e.g. ExpertProvider::IsResident.
using ResidencyFn = std::function<bool(int layer, int expert)>;

struct SageSelectorCounters {
  int64_t tokens = 0;     // Select calls in the lowest layer seen (one per token)
  int64_t decisions = 0;  // Select calls (tokens × MoE layers)
  int64_t chosen = 0;     // experts chosen, summed over decisions
  int64_t model_k = 0;    // the model's k, summed over decisions (chosen / model_k: compute)
  // Chosen experts outside the router's exact top-k_state (displaced by trust or residency).
  int64_t swapped = 0;
  // Chosen experts outside the router's exact top-k (the model's own choice), which also counts
  // the extra experts of CRISIS.
  int64_t outside_model_topk = 0;
};

class SageSelector final : public ExpertSelector {
 public:
  SageSelector(Component component, const TrustTable* trust, const SalienceTracker* salience,
               const StateMachine* states, ResidencyFn resident = nullptr);

  int Select(int layer, int64_t position, const float* probs, int num_experts, int k,
             bool norm_topk_prob, int32_t* experts, float* weights) override;
  // CRISIS's count, the largest of every state's (sage/metabolic.h).
  int MaxExperts(int k, int num_experts) const override {
    return ExpertsPerToken(MetabolicState::kCrisis, k, num_experts);
  }

  const SageSelectorCounters& counters() const { return counters_; }
  void ResetCounters() { counters_ = {}; }
  // The score of every expert in the last Select [num_experts] (tests, reports).
  const std::vector<double>& last_scores() const { return scores_; }

 private:
  Component component_;
  const TrustTable* trust_;
  const SalienceTracker* salience_;
  const StateMachine* states_;
  ResidencyFn resident_;
  SageSelectorCounters counters_;
  int lowest_layer_ = -1;
  std::vector<double> scores_, trust_row_;
  std::vector<int32_t> order_, exact_;
  std::vector<char> in_exact_;
};

}  // namespace omnisage

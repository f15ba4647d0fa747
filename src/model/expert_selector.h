// ExpertSelector: how a MoE layer picks the experts for one token from the router's softmax.
// Without a selector the decoder is exact: the router's top-k (ties to the lower index),
// renormalised when norm_topk_prob — the reference behaviour (spec §4). A selector replaces that
// choice (SAGE mode, src/sage), which makes the output approximate.
#pragma once

#include <cstdint>

namespace omnisage {

class ExpertSelector {
 public:
  virtual ~ExpertSelector() = default;
  // probs: the router softmax [num_experts] of the token at absolute position `position`.
  // Writes at most MaxExperts(k, num_experts) experts (distinct) and their mixing weights;
  // returns how many (≥ 1). `k` and `norm_topk_prob` are the model's own settings.
  virtual int Select(int layer, int64_t position, const float* probs, int num_experts, int k,
                     bool norm_topk_prob, int32_t* experts, float* weights) = 0;
  // The most experts Select may choose for one token (the decoder sizes its buffers by it).
  virtual int MaxExperts(int k, int num_experts) const { return num_experts; }
};

// The exact choice: the k largest probabilities (ties to the lower index), in descending order,
// with weights renormalised to sum 1 when `normalize`. Returns k.
int SelectTopK(const float* probs, int num_experts, int k, bool normalize, int32_t* experts,
               float* weights);

// One routed expert's part in one token's MoE output, for trust records (sage/trust.h).
struct ExpertContribution {
  int layer;
  int64_t position;  // absolute position of the token
  int expert;
  float weight;           // its mixing weight
  const float* output;    // the expert's own output y_e [hidden] (before weighting)
  const float* combined;  // the layer's MoE output Σ w·y for this token [hidden]
  int64_t hidden;
};

}  // namespace omnisage

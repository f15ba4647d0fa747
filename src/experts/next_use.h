// NextUseEstimator: how soon will a cached expert be needed again?
//
// A MoE stack uses its experts layer by layer, and the layers in a cycle: one token's pass through
// the stack in decode, one batch's in prefill. So the expert that will be wanted last is not the
// least recently used one — in a cycle that is the next layer's, wanted soonest — but one whose
// layer has just run and which its layer seldom picks. The estimator learns, from the accesses it
// is shown:
//   - the cycle: the layer being run (that of the last access) and each component's layer count
//     (the largest layer seen + 1);
//   - each expert's chance p of being used in a pass of its layer: an exponential moving average
//     over that layer's passes with a half-life of `half_life` passes, bias-corrected for the
//     passes seen so far (so the first passes are not read as "rarely used");
// and estimates the time to an expert's next use, in layer passes, as
//     d + L · (1 − p) / p
// where d is the number of layers until its layer runs again (L for the layer running now or for
// another component's) and L its component's layer count: the first chance comes after d layers,
// and each missed chance costs a whole cycle. An expert inserted and not yet used (a prefetch, or
// a demand load about to be used) is expected at its layer's next pass (p read as 1) until that
// pass is over. A never-used expert whose insertion has expired is infinitely far.
//
// Records are kept for every expert seen, resident or not (a few bytes each; at most the number
// of experts in the model), so an expert's history survives its eviction. Time is logical (calls
// to OnAccess). Not thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <unordered_map>

namespace omnisage {

class NextUseEstimator {
 public:
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  // REQUIRES: half_life > 0.
  explicit NextUseEstimator(double half_life);

  // `key` (a packed ExpertKey) was loaded and has not been used yet.
  void OnInsert(uint64_t key);
  // `key` was used by the layer pass running now. Consecutive accesses to one (component, layer)
  // are one pass, which uses each expert once: an access to another layer, or a second access to
  // an expert of the running pass (a model with one MoE layer), starts a new pass.
  void OnAccess(uint64_t key);

  // What the estimator knows of `key`, from one lookup.
  struct Estimate {
    double next_use = kNever;  // layer passes until `key` is used again (kNever: none in view)
    double probability = 0;    // chance its layer uses it in a pass (0 for an expert never used)
    // Inserted and not used yet, and its layer's pass that expects it (the running one or the
    // next) is not over.
    bool expected = false;
    uint64_t last_access = 0;  // logical time of the last access (0 if none): a tie-breaker
  };
  Estimate Look(uint64_t key) const;
  double NextUse(uint64_t key) const { return Look(key).next_use; }
  double UseProbability(uint64_t key) const { return Look(key).probability; }
  bool Expected(uint64_t key) const { return Look(key).expected; }
  uint64_t LastAccess(uint64_t key) const { return Look(key).last_access; }

 private:
  struct Record {
    double average = 0;         // EMA of "used in this pass", as of pass `pass` of its layer
    uint64_t pass = 0;          // its layer's pass count at the last update (0: never used)
    uint64_t pending_pass = 0;  // inserted, unused: expected in this pass of its layer
    bool pending = false;
    uint64_t last_access = 0;
  };
  struct LayerState {
    uint64_t passes = 0;  // passes begun
  };
  static uint64_t LayerId(uint64_t key) { return key >> 24; }  // component and layer bits

  // Layers until `key`'s layer runs again, counting the running one as a whole cycle away.
  int LayersAhead(uint64_t key) const;
  uint64_t PassesOf(uint64_t layer_id) const;

  double decay_;  // 1 − α: the weight of the past per pass
  uint64_t now_ = 0;
  bool running_ = false;
  uint64_t running_layer_ = 0;  // LayerId of the last access
  std::unordered_map<uint64_t, Record> records_;
  std::unordered_map<uint64_t, LayerState> layers_;  // by LayerId
  std::unordered_map<uint64_t, int> layer_count_;    // by component: largest layer + 1
};

}  // namespace omnisage

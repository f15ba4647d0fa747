// SageController: the SAGE policy layer wired to one running model. It owns the trust records
// (loaded from and saved to a file beside the model), the SNARC salience tracker, the metabolic
// state machine and, in `--mode sage`, the selector that replaces exact top-k routing. The engine
// feeds it the decoder's routing and contribution events and the expert loads; the session
// reports each sampled token. State changes resize the expert cache (REST shrinks it to a floor).
//
// Exact mode with the trust-weighted policy also uses a controller, for the trust records alone:
// no selector, so the output stays exact.
//
// Not thread-safe, except OnLoad (called from I/O threads; the trust table locks).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "model/config.h"
#include "model/decoder.h"
#include "sage/metabolic.h"
#include "sage/salience.h"
#include "sage/selector.h"
#include "sage/trust.h"
#include "util/options.h"

namespace omnisage {

struct SageOptions {
  bool select = false;          // --mode sage: the SAGE selector picks experts (approximate)
  std::string state = "";       // --state: pin this metabolic state ("" lets salience decide)
  double reward = 0.0;          // --reward, in [-1, 1]
  std::string trust_file = "";  // where trust records live ("" keeps them in memory only)
  double rest_floor = kDefaultRestFloor;

  // The options a user sets (util/options.h); `select` follows the engine's --mode.
  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(state, {.name = "state",
              .help = "Pin a metabolic state (sage): wake, focus, crisis, rest or dream",
              .choices = &MetabolicStateNames()});
    v(reward, {.name = "reward", .help = "Reward signal (sage)", .min = -1, .max = 1});
    v(trust_file, {.name = "trust-file",
                   .help = "Trust records (sage, --policy trust); default: "
                           "<model>/omnisage-trust.json"});
  }
};

class SageController {
 public:
  // Loads the trust file when it exists. Errors: an option out of its range (a bad state name,
  // a reward outside [-1, 1]), a malformed trust file.
  static StatusOr<std::unique_ptr<SageController>> Create(const DecoderConfig& config,
                                                          Component component,
                                                          const SageOptions& options);

  // The cache whose size follows the state (null: none); `budget` is its full capacity. Pins the
  // trust file's hot set (DREAM's choice) into it, up to half the budget.
  void AttachCache(CachedExperts* cache, uint64_t budget);

  // Null in exact mode.
  ExpertSelector* selector() { return options_.select ? selector_.get() : nullptr; }
  void OnRouting(const RoutingEvent& e) {
    if (options_.select) salience_.OnRouting(e);
  }
  void OnContribution(const ExpertContribution& c) { trust_.Observe(component_, c); }
  void OnLoad(uint64_t key, uint64_t bytes, double ms) { trust_.OnLoad(key, bytes, ms); }
  // After each sampled token: surprise, the end of the token's salience, the state update
  // (memory pressure = the step's fraction of time stalled on expert loads).
  void AfterToken(const float* logits, int64_t vocab, int32_t token, double stall_fraction);
  // Idle between turns: REST (the cache shrinks to its floor) unless a state is pinned.
  void Rest();
  void SetReward(double r) { salience_.SetReward(r); }
  Status SaveTrust();
  // What the trust file held that this model cannot use (records of experts it does not have),
  // for the run's report; empty when nothing.
  std::vector<std::string> Warnings() const;

  MetabolicState state() const { return states_.state(); }
  TrustTable& trust() { return trust_; }
  const SageOptions& options() const { return options_; }
  uint64_t hot_bytes() const { return hot_bytes_; }
  // One line for people; an object for run --json.
  std::string Summary() const;
  nlohmann::ordered_json ToJson() const;

 private:
  SageController(const DecoderConfig& config, Component component, const SageOptions& options);
  void ApplyState();

  DecoderConfig config_;
  Component component_;
  SageOptions options_;
  TrustTable trust_;
  SalienceTracker salience_;
  StateMachine states_{MetabolicState::kFocus};  // the model's own k until salience speaks
  std::unique_ptr<SageSelector> selector_;
  CachedExperts* cache_ = nullptr;
  uint64_t budget_ = 0;
  uint64_t hot_bytes_ = 0;
  MetabolicState applied_ = MetabolicState::kWake;
  std::vector<std::string> warnings_;
};

}  // namespace omnisage

#include "runtime/sage_controller.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/file.h"
#include "util/units.h"

namespace omnisage {

SageController::SageController(const DecoderConfig& config, Component component,
                               const SageOptions& options)
    : config_(config),
      component_(component),
      options_(options),
      salience_({.num_experts = static_cast<int>(config.num_experts),
                 .top_k = static_cast<int>(config.num_experts_per_tok)}) {}

StatusOr<std::unique_ptr<SageController>> SageController::Create(const DecoderConfig& config,
                                                                 Component component,
                                                                 const SageOptions& options) {
  OMNI_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<SageController> c(new SageController(config, component, options));
  if (!options.state.empty()) {
    auto state = ParseMetabolicState(options.state);
    if (!state.ok()) return InvalidArgument("--state: " + state.status().message());
    c->states_.Pin(*state);
  }
  c->salience_.SetReward(options.reward);
  if (!options.trust_file.empty() && FileExists(options.trust_file)) {
    OMNI_RETURN_IF_ERROR(c->trust_.Load(options.trust_file));
    std::string foreign =
        DescribeForeignTrustKeys(c->trust_, component, config, options.trust_file);
    if (!foreign.empty()) c->warnings_.push_back(std::move(foreign));
  }
  SageController* self = c.get();
  c->selector_ = std::make_unique<SageSelector>(
      component, &c->trust_, &c->salience_, &c->states_, [self](int layer, int expert) {
        return self->cache_ == nullptr || self->cache_->IsResident(layer, expert);
      });
  c->applied_ = c->states_.state();
  return c;
}

void SageController::AttachCache(CachedExperts* cache, uint64_t budget) {
  cache_ = cache;
  budget_ = budget;
  if (cache_ == nullptr) return;
  // DREAM's hot set, pinned for the whole run, within half the budget and leaving the minimum.
  const uint64_t minimum = CachedExperts::MinimumBudget(config_);
  const uint64_t limit = budget > minimum ? std::min(budget / 2, budget - minimum) : 0;
  std::vector<uint64_t> keys;
  for (uint64_t key : trust_.hot_set()) {
    if (ExpertKey::Unpack(key).component == component_) keys.push_back(key);
  }
  hot_bytes_ = cache_->PinHotSet(keys, limit);
  ApplyState();
}

void SageController::ApplyState() {
  if (cache_ == nullptr) return;
  const MetabolicState s = states_.state();
  const uint64_t floor = CachedExperts::MinimumBudget(config_) + hot_bytes_;
  const double fraction = CacheFraction(s, options_.rest_floor);
  const uint64_t capacity =
      std::max<uint64_t>(floor, static_cast<uint64_t>(fraction * static_cast<double>(budget_)));
  cache_->cache().SetCapacity(std::min(capacity, budget_));
  applied_ = s;
}

void SageController::AfterToken(const float* logits, int64_t vocab, int32_t token,
                                double stall_fraction) {
  salience_.OnSampled(logits, vocab, token);
  salience_.EndToken();
  if (states_.state() == MetabolicState::kRest || states_.state() == MetabolicState::kDream) {
    states_.Wake();
  }
  states_.Update(salience_.ema(), std::clamp(stall_fraction, 0.0, 1.0));
  if (states_.state() != applied_) ApplyState();
}

void SageController::Rest() {
  if (states_.pinned()) return;
  states_.Idle();
  ApplyState();
}

Status SageController::SaveTrust() {
  if (options_.trust_file.empty()) return Status::Ok();
  return trust_.Save(options_.trust_file);
}

std::vector<std::string> SageController::Warnings() const { return warnings_; }

std::string SageController::Summary() const {
  if (!options_.select) {
    return fmt::format("sage (trust records only, exact routing): {} trust records\n",
                       trust_.size());
  }
  const Snarc& s = salience_.last();
  const SageSelectorCounters& c = selector_->counters();
  std::string out = fmt::format(
      "sage (approximate routing): state {}{} | salience {:.2f} (S {:.2f} N {:.2f} A {:.2f} R "
      "{:.2f} C {:.2f}) | "
      "{} state changes | {} trust records",
      MetabolicStateName(state()), states_.pinned() ? " (pinned)" : "", salience_.ema(), s.surprise,
      s.novelty, s.arousal, s.reward, s.conflict, states_.transitions(), trust_.size());
  if (options_.select && c.decisions > 0) {
    out +=
        fmt::format(" | {:.2f} experts per layer (model k {}), {:.1f}% outside the router's top-k",
                    static_cast<double>(c.chosen) / c.decisions, config_.num_experts_per_tok,
                    c.chosen ? 100.0 * c.outside_model_topk / c.chosen : 0.0);
  }
  if (hot_bytes_ > 0) out += fmt::format(" | hot set {} pinned", FormatBytes(hot_bytes_));
  return out + "\n";
}

nlohmann::ordered_json SageController::ToJson() const {
  const Snarc& s = salience_.last();
  const SageSelectorCounters& c = selector_->counters();
  nlohmann::ordered_json per_state = nlohmann::ordered_json::object();
  for (int i = 0; i < kNumMetabolicStates; ++i) {
    per_state[std::string(MetabolicStateName(static_cast<MetabolicState>(i)))] =
        states_.updates_in()[i];
  }
  return {{"mode", options_.select ? "sage" : "exact"},
          {"state", MetabolicStateName(state())},
          {"state_pinned", states_.pinned()},
          {"state_changes", states_.transitions()},
          {"tokens_in_state", per_state},
          {"salience_ema", salience_.ema()},
          {"last_token",
           {{"surprise", s.surprise},
            {"novelty", s.novelty},
            {"arousal", s.arousal},
            {"reward", s.reward},
            {"conflict", s.conflict},
            {"salience", s.salience}}},
          {"decisions", c.decisions},
          {"experts_chosen", c.chosen},
          {"experts_outside_router_topk", c.outside_model_topk},
          {"trust_records", trust_.size()},
          {"hot_set_bytes", hot_bytes_}};
}

}  // namespace omnisage

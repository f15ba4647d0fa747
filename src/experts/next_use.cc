#include "experts/next_use.h"

#include <algorithm>
#include <cmath>

namespace omnisage {

NextUseEstimator::NextUseEstimator(double half_life) : decay_(std::exp2(-1.0 / half_life)) {}

uint64_t NextUseEstimator::PassesOf(uint64_t layer_id) const {
  auto it = layers_.find(layer_id);
  return it == layers_.end() ? 0 : it->second.passes;
}

int NextUseEstimator::LayersAhead(uint64_t key) const {
  const uint64_t component = key >> 48;
  const int layer = static_cast<int>((key >> 24) & 0xFFFFFF);
  auto it = layer_count_.find(component);
  const int count = std::max(layer + 1, it == layer_count_.end() ? 0 : it->second);
  if (!running_ || (running_layer_ >> 24) != component) return count;
  const int running = static_cast<int>(running_layer_ & 0xFFFFFF);
  const int ahead = ((layer - running) % count + count) % count;
  return ahead == 0 ? count : ahead;
}

void NextUseEstimator::OnInsert(uint64_t key) {
  Record& r = records_[key];
  const uint64_t id = LayerId(key);
  const bool running = running_ && id == running_layer_;
  r.pending = true;
  r.pending_pass = PassesOf(id) + (running ? 0 : 1);
}

void NextUseEstimator::OnAccess(uint64_t key) {
  ++now_;
  const uint64_t id = LayerId(key);
  auto found = records_.find(key);
  const bool again = running_ && id == running_layer_ && found != records_.end() &&
                     found->second.pass == layers_[id].passes;
  if (!running_ || id != running_layer_ || again) {
    ++layers_[id].passes;
    running_layer_ = id;
    running_ = true;
    int& count = layer_count_[key >> 48];
    count = std::max(count, static_cast<int>((key >> 24) & 0xFFFFFF) + 1);
  }
  const uint64_t pass = layers_[id].passes;
  Record& r = records_[key];
  if (r.pass != pass) {  // once per pass: avg_P = decay · avg_{P−1} + (1 − decay)
    r.average = r.average * std::pow(decay_, static_cast<double>(pass - r.pass)) + (1 - decay_);
    r.pass = pass;
  }
  r.pending = false;
  r.last_access = now_;
}

NextUseEstimator::Estimate NextUseEstimator::Look(uint64_t key) const {
  Estimate e;
  auto it = records_.find(key);
  if (it == records_.end()) return e;
  const Record& r = it->second;
  e.last_access = r.last_access;
  const uint64_t id = LayerId(key);
  const uint64_t passes = PassesOf(id);
  const bool running = running_ && id == running_layer_;
  if (r.pass != 0) {
    uint64_t completed = passes;  // passes whose outcome for this expert is known
    if (running && r.pass != completed) --completed;
    const double average = r.average * std::pow(decay_, static_cast<double>(completed - r.pass));
    // Bias correction: the average started at 0, `completed` passes ago.
    e.probability = std::min(1.0, average / (1 - std::pow(decay_, static_cast<double>(completed))));
  }
  e.expected = r.pending && (passes < r.pending_pass || (passes == r.pending_pass && running));
  if (e.expected) {  // in this pass of its layer, or the next one
    e.next_use = passes == r.pending_pass ? 0 : LayersAhead(key);
  } else if (e.probability > 0) {
    auto count = layer_count_.find(key >> 48);
    const double layers = count == layer_count_.end() ? 1 : count->second;
    e.next_use = LayersAhead(key) + layers * (1 - e.probability) / e.probability;
  }
  return e;
}

}  // namespace omnisage

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

double NextUseEstimator::UseProbability(uint64_t key) const {
  auto it = records_.find(key);
  if (it == records_.end() || it->second.pass == 0) return 0;
  const Record& r = it->second;
  const uint64_t id = LayerId(key);
  uint64_t completed = PassesOf(id);  // passes whose outcome for this expert is known
  if (running_ && id == running_layer_ && r.pass != completed) --completed;
  const double average = r.average * std::pow(decay_, static_cast<double>(completed - r.pass));
  // Bias correction: the average started at 0, `completed` passes ago.
  return std::min(1.0, average / (1 - std::pow(decay_, static_cast<double>(completed))));
}

bool NextUseEstimator::Expected(uint64_t key) const {
  auto it = records_.find(key);
  if (it == records_.end() || !it->second.pending) return false;
  const uint64_t id = LayerId(key);
  const uint64_t passes = PassesOf(id);
  const bool running = running_ && id == running_layer_;
  return passes < it->second.pending_pass || (passes == it->second.pending_pass && running);
}

double NextUseEstimator::NextUse(uint64_t key) const {
  auto it = records_.find(key);
  if (it == records_.end()) return kNever;
  if (Expected(key)) {  // in this pass of its layer, or the next one
    return PassesOf(LayerId(key)) == it->second.pending_pass ? 0 : LayersAhead(key);
  }
  const double p = UseProbability(key);
  if (p <= 0) return kNever;
  auto count = layer_count_.find(key >> 48);
  const double layers = count == layer_count_.end() ? 1 : count->second;
  return LayersAhead(key) + layers * (1 - p) / p;
}

uint64_t NextUseEstimator::LastAccess(uint64_t key) const {
  auto it = records_.find(key);
  return it == records_.end() ? 0 : it->second.last_access;
}

}  // namespace omnisage

#include "sage/dream.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "experts/expert_key.h"

namespace omnisage {

StatusOr<DreamReport> Dream(const std::vector<RoutingDecision>& decisions,
                            const DreamOptions& options, TrustTable* table) {
  if (table == nullptr) return InvalidArgument("dream: no trust table");
  const double decay = options.decay;
  if (!(decay >= 0.0 && decay <= 1.0)) {
    return InvalidArgument(fmt::format("dream: decay {} is outside [0, 1]", decay));
  }
  struct Usage {
    double count = 0.0;
    double weight_sum = 0.0;
  };
  std::unordered_map<uint64_t, Usage> fresh;
  std::set<Component> with_usage;
  for (size_t i = 0; i < decisions.size(); ++i) {
    const RoutingDecision& d = decisions[i];
    if (d.experts.size() != d.weights.size()) {
      return InvalidArgument(fmt::format("dream: decision {}: {} experts but {} weights", i,
                                         d.experts.size(), d.weights.size()));
    }
    if (d.layer < 0)
      return InvalidArgument(fmt::format("dream: decision {}: layer {}", i, d.layer));
    for (size_t j = 0; j < d.experts.size(); ++j) {
      if (d.experts[j] < 0) {
        return InvalidArgument(
            fmt::format("dream: decision {}: experts[{}] is {}", i, j, d.experts[j]));
      }
      if (!std::isfinite(d.weights[j]) || d.weights[j] < 0.0f) {
        return InvalidArgument(
            fmt::format("dream: decision {}: weights[{}] is {}", i, j, d.weights[j]));
      }
      Usage& u = fresh[ExpertKey{d.component, d.layer, d.experts[j]}.Pack()];
      u.count += 1.0;
      u.weight_sum += d.weights[j];
    }
    if (!d.experts.empty()) with_usage.insert(d.component);
  }
  if (decay > 0.0) {
    for (const auto& [key, r] : table->Snapshot()) {
      if (r.routed * r.mean_weight > 0.0) with_usage.insert(ExpertKey::Unpack(key).component);
    }
  }
  for (Component c : with_usage) {
    auto it = options.expert_bytes.find(c);
    if (it == options.expert_bytes.end() || it->second == 0) {
      return InvalidArgument(
          fmt::format("dream: no expert size for component '{}'", ComponentName(c)));
    }
  }

  DreamReport report;
  report.decisions = static_cast<int64_t>(decisions.size());
  report.experts_used = static_cast<int64_t>(fresh.size());
  const auto consolidate = [&](TrustRecord& r, const Usage* u) {
    const double kept = decay * r.routed;
    const double count = kept + (u != nullptr ? u->count : 0.0);
    const double weight = kept * r.mean_weight + (u != nullptr ? u->weight_sum : 0.0);
    r.routed = count;
    r.mean_weight = count > 0.0 ? weight / count : 0.0;
  };
  table->Mutate([&](uint64_t key, TrustRecord& r) {
    auto it = fresh.find(key);
    if (it == fresh.end()) {
      consolidate(r, nullptr);
    } else {
      consolidate(r, &it->second);
      fresh.erase(it);
    }
  });
  for (const auto& [key, u] : fresh) {
    table->MutateOne(key, [&](TrustRecord& r) { consolidate(r, &u); });
  }

  struct Candidate {
    double score;
    uint64_t key;
  };
  std::vector<Candidate> candidates;
  for (const auto& [key, r] : table->Snapshot()) {
    const double score = r.routed * r.mean_weight;
    if (score > 0.0) candidates.push_back({score, key});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.key < b.key;
  });
  for (const Candidate& c : candidates) {
    auto it = options.expert_bytes.find(ExpertKey::Unpack(c.key).component);
    if (it == options.expert_bytes.end() || it->second == 0) continue;  // raced in; no size
    if (it->second > options.byte_limit - report.hot_bytes) continue;
    report.hot_set.push_back(c.key);
    report.hot_bytes += it->second;
  }
  table->set_hot_set(report.hot_set);
  return report;
}

}  // namespace omnisage

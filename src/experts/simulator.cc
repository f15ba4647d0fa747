#include "experts/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "experts/expert_key.h"
#include "util/units.h"

namespace omnisage {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// One layer pass: accesses [begin, end) of the flat access list, ascending expert index.
struct Pass {
  const TraceComponent* component;
  int64_t step;
  int layer;
  size_t begin, end;
};

struct Schedule {
  std::vector<Pass> passes;
  std::vector<uint64_t> keys;  // packed ExpertKeys, in access order
};

StatusOr<Schedule> BuildSchedule(const Trace& trace) {
  Schedule s;
  std::vector<int32_t> experts;
  const auto& records = trace.records;
  for (size_t r = 0; r < records.size();) {
    const TraceRecord& first = records[r];
    const TraceComponent* tc = trace.header.Find(first.component);
    if (tc == nullptr) {
      return InvalidArgument(fmt::format("record {} (step {}): component '{}' is not in the header",
                                         r, first.step, ComponentName(first.component)));
    }
    experts.clear();
    size_t q = r;
    for (; q < records.size() && records[q].step == first.step &&
           records[q].component == first.component && records[q].layer == first.layer;
         ++q) {
      experts.insert(experts.end(), records[q].experts.begin(), records[q].experts.end());
    }
    std::sort(experts.begin(), experts.end());
    experts.erase(std::unique(experts.begin(), experts.end()), experts.end());
    Pass p{tc, first.step, first.layer, s.keys.size(), s.keys.size() + experts.size()};
    for (int32_t e : experts) s.keys.push_back(ExpertKey{first.component, first.layer, e}.Pack());
    if (p.end > p.begin) s.passes.push_back(p);
    r = q;
  }
  return s;
}

// Belady's victim order: farthest next use first, then the lower key.
struct FarthestFirst {
  bool operator()(const std::pair<uint64_t, uint64_t>& a,
                  const std::pair<uint64_t, uint64_t>& b) const {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  }
};

}  // namespace

int SimWindow(const TraceComponent& component, uint64_t budget_bytes, const SimOptions& options) {
  const int64_t want = options.window > 0 ? options.window : component.k;
  const uint64_t fit = component.expert_bytes ? budget_bytes / component.expert_bytes : 0;
  const int64_t cap = static_cast<int64_t>(std::min<uint64_t>(fit, 1u << 30));
  return static_cast<int>(std::max<int64_t>(1, std::min(want, cap)));
}

uint64_t MinimumSimBudget(const Trace& trace) {
  uint64_t need = 0;
  for (const TraceRecord& r : trace.records) {
    if (const TraceComponent* tc = trace.header.Find(r.component)) {
      need = std::max(need, tc->expert_bytes);
    }
  }
  return need;
}

StatusOr<SimResult> SimulateCache(const Trace& trace, uint64_t budget_bytes, EvictionPolicy* policy,
                                  const SimOptions& options) {
  OMNI_ASSIGN_OR_RETURN(Schedule sched, BuildSchedule(trace));
  const uint64_t minimum = MinimumSimBudget(trace);
  if (budget_bytes < minimum) {
    return InvalidArgument(fmt::format(
        "budget {} ({} bytes) cannot hold one expert of the largest kind the trace uses: the "
        "minimum is {} bytes ({})",
        FormatBytes(budget_bytes), budget_bytes, minimum, FormatBytes(minimum)));
  }
  const std::vector<uint64_t>& keys = sched.keys;

  // next_use[i]: the index of the next access to keys[i] after i, or kNever (Belady only).
  std::vector<uint64_t> next_use;
  if (policy == nullptr) {
    next_use.assign(keys.size(), kNever);
    std::unordered_map<uint64_t, uint64_t> later;
    later.reserve(keys.size());
    for (size_t i = keys.size(); i-- > 0;) {
      auto [it, fresh] = later.try_emplace(keys[i], i);
      if (!fresh) {
        next_use[i] = it->second;
        it->second = i;
      }
    }
  }

  SimResult res;
  res.policy = policy != nullptr ? std::string(policy->name()) : "belady";
  res.budget_bytes = budget_bytes;
  res.layer_passes = sched.passes.size();

  std::unordered_map<uint64_t, uint64_t> resident;                      // key -> charge
  std::set<std::pair<uint64_t, uint64_t>, FarthestFirst> belady_order;  // (next use, key)
  std::unordered_map<uint64_t, uint64_t> belady_next;                   // key -> its next use
  std::map<std::pair<int, int>, SimLayerStats> per_layer;
  uint64_t used = 0;
  std::unordered_set<uint64_t> ever;

  for (const Pass& pass : sched.passes) {
    const TraceComponent& tc = *pass.component;
    const uint64_t charge = tc.expert_bytes;
    const size_t window = static_cast<size_t>(SimWindow(tc, budget_bytes, options));
    SimLayerStats& layer_stats = per_layer[{static_cast<int>(tc.component), pass.layer}];
    layer_stats.component = tc.component;
    layer_stats.layer = pass.layer;

    for (size_t i = pass.begin; i < pass.end; ++i) {
      const uint64_t key = keys[i];
      // The pass's keys are ascending, so the pinned ones form a sorted range.
      const uint64_t* pin_begin = keys.data() + i;
      const uint64_t* pin_end = keys.data() + std::min(pass.end, i + window);
      auto evictable = [&](uint64_t k) {
        return resident.count(k) != 0 && !std::binary_search(pin_begin, pin_end, k);
      };
      ++res.accesses;
      if (ever.insert(key).second) ++res.distinct_experts;
      if (resident.count(key) != 0) {
        ++res.hits;
        ++layer_stats.hits;
      } else {
        ++res.misses;
        ++layer_stats.misses;
        while (used + charge > budget_bytes) {
          std::optional<uint64_t> victim;
          if (policy != nullptr) {
            victim = policy->Victim(evictable);
          } else {
            for (const auto& [next, k] : belady_order) {
              if (evictable(k)) {
                victim = k;
                break;
              }
            }
          }
          if (!victim) {
            return Internal(
                fmt::format("{}: no victim while {} of {} bytes are resident (step {}, layer {})",
                            res.policy, used, budget_bytes, pass.step, pass.layer));
          }
          if (!evictable(*victim)) {
            const ExpertKey v = ExpertKey::Unpack(*victim);
            return Internal(fmt::format("{}: chose {} layer {} expert {}, which is {}", res.policy,
                                        ComponentName(v.component), v.layer, v.expert,
                                        resident.count(*victim) ? "pinned" : "not resident"));
          }
          auto it = resident.find(*victim);
          used -= it->second;
          resident.erase(it);
          if (policy != nullptr) {
            policy->OnErase(*victim);
          } else {
            auto nit = belady_next.find(*victim);
            belady_order.erase({nit->second, *victim});
            belady_next.erase(nit);
          }
          ++res.evictions;
        }
        resident.emplace(key, charge);
        used += charge;
        res.bytes_read += charge;
        res.peak_resident_bytes = std::max(res.peak_resident_bytes, used);
        if (policy != nullptr) policy->OnInsert(key, charge);
      }
      if (policy != nullptr) {
        policy->OnAccess(key);
      } else {
        auto [nit, fresh] = belady_next.try_emplace(key, next_use[i]);
        if (!fresh) {
          belady_order.erase({nit->second, key});
          nit->second = next_use[i];
        }
        belady_order.insert({next_use[i], key});
      }
    }
  }
  res.hit_rate = res.accesses ? static_cast<double>(res.hits) / res.accesses : 0.0;
  res.layers.reserve(per_layer.size());
  for (auto& [where, stats] : per_layer) res.layers.push_back(stats);
  return res;
}

}  // namespace omnisage

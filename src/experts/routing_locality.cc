#include "experts/routing_locality.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <utility>

namespace omnisage {

namespace {

struct LayerState {
  LayerLocality out;
  std::vector<int64_t> uses;              // per expert
  std::deque<std::vector<int32_t>> past;  // the last `window` tokens' experts, newest first
  int64_t last_pos = -1;
  double next_sum = 0, window_sum = 0;
};

}  // namespace

RoutingLocality MeasureLocality(const Trace& trace, int window) {
  RoutingLocality result;
  result.window = window;
  std::map<std::pair<int, int>, LayerState> states;  // (component, layer)
  std::vector<std::pair<int, int>> order;
  for (const TraceComponent& c : trace.header.components) {
    for (int layer : c.moe_layers) {
      const auto key = std::make_pair(static_cast<int>(c.component), layer);
      LayerState& s = states[key];
      s.out.component = c.component;
      s.out.layer = layer;
      s.uses.assign(c.experts, 0);
      order.push_back(key);
    }
  }
  for (const TraceRecord& r : trace.records) {
    auto it = states.find({static_cast<int>(r.component), r.layer});
    if (it == states.end() || r.experts.empty()) continue;
    LayerState& s = it->second;
    if (r.pos <= s.last_pos) s.past.clear();  // a new sequence
    s.last_pos = r.pos;
    s.out.tokens++;
    for (int32_t e : r.experts) s.uses[e]++;
    if (!s.past.empty()) {
      const double n = static_cast<double>(r.experts.size());
      int next = 0, in_window = 0;
      for (int32_t e : r.experts) {
        const auto has = [e](const std::vector<int32_t>& v) {
          return std::find(v.begin(), v.end(), e) != v.end();
        };
        if (has(s.past.front())) next++;
        if (std::any_of(s.past.begin(), s.past.end(), has)) in_window++;
      }
      s.next_sum += next / n;
      s.window_sum += in_window / n;
      s.out.with_predecessor++;
    }
    s.past.push_front(r.experts);
    if (static_cast<int>(s.past.size()) > window) s.past.pop_back();
  }

  double w_reuse = 0, w_skew = 0;
  for (const auto& key : order) {
    LayerState& s = states[key];
    LayerLocality& l = s.out;
    if (l.with_predecessor > 0) {
      l.reuse_next = s.next_sum / l.with_predecessor;
      l.reuse_window = s.window_sum / l.with_predecessor;
    }
    const int64_t total = [&] {
      int64_t t = 0;
      for (int64_t u : s.uses) t += u;
      return t;
    }();
    if (total > 0) {
      std::vector<int64_t> sorted = s.uses;
      std::sort(sorted.rbegin(), sorted.rend());
      const size_t decile = (sorted.size() + 9) / 10;
      int64_t top = 0;
      for (size_t i = 0; i < decile; ++i) top += sorted[i];
      l.top_decile_share = static_cast<double>(top) / total;
      double h = 0;
      for (int64_t u : s.uses) {
        if (u == 0) continue;
        const double p = static_cast<double>(u) / total;
        h -= p * std::log(p);
      }
      l.usage_entropy = s.uses.size() > 1 ? h / std::log(static_cast<double>(s.uses.size())) : 0;
    }
    result.reuse_next += l.reuse_next * l.with_predecessor;
    result.reuse_window += l.reuse_window * l.with_predecessor;
    w_reuse += l.with_predecessor;
    result.top_decile_share += l.top_decile_share * l.tokens;
    result.usage_entropy += l.usage_entropy * l.tokens;
    w_skew += l.tokens;
    result.layers.push_back(l);
  }
  if (w_reuse > 0) {
    result.reuse_next /= w_reuse;
    result.reuse_window /= w_reuse;
  }
  if (w_skew > 0) {
    result.top_decile_share /= w_skew;
    result.usage_entropy /= w_skew;
  }
  return result;
}

}  // namespace omnisage

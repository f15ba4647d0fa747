// How much a routing trace reuses experts from token to token, and how unevenly a layer's
// experts are used: the temporal locality and skew an expert cache lives on.
//
// Per MoE layer, tokens are taken in record order; a record whose position does not follow the
// previous one's (pos <= previous pos) starts a new sequence, so repeated sessions in one trace
// do not count as neighbours. For a token with at least one predecessor in its sequence:
//   reuse_next    = |E_t ∩ E_{t-1}| / |E_t|
//   reuse_window  = |E_t ∩ (E_{t-1} ∪ ... ∪ E_{t-W})| / |E_t|   (fewer predecessors: those there
//   are)
// averaged over such tokens. Skew, over every token of the layer: top_decile_share is the share
// of uses taken by the most-used ceil(E / 10) experts (0.1 when usage is uniform), and
// usage_entropy the entropy of the usage distribution over log E (1 uniform, 0 one expert).
// Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "experts/trace.h"

namespace omnisage {

struct LayerLocality {
  Component component = Component::kThinker;
  int layer = 0;
  int64_t tokens = 0;            // routing records of this layer
  int64_t with_predecessor = 0;  // of those, tokens that have a previous token in their sequence
  double reuse_next = 0;
  double reuse_window = 0;
  double top_decile_share = 0;
  double usage_entropy = 0;
};

struct RoutingLocality {
  int window = 8;
  std::vector<LayerLocality> layers;  // in header order: component, then layer
  // Means over layers, each layer weighted by its tokens with a predecessor (reuse) or its
  // tokens (skew).
  double reuse_next = 0;
  double reuse_window = 0;
  double top_decile_share = 0;
  double usage_entropy = 0;
};

// REQUIRES: `trace` passed ReadTrace's checks; window >= 1.
RoutingLocality MeasureLocality(const Trace& trace, int window = 8);

}  // namespace omnisage

// ExpertKey: which routed expert — (component, layer, expert) — packed into one 64-bit id, the key
// of the expert cache, the eviction policies, traces and trust records.
#pragma once

#include <cstdint>
#include <functional>

#include "model/tensor_table.h"

namespace omnisage {

struct ExpertKey {
  Component component = Component::kThinker;
  int32_t layer = 0;
  int32_t expert = 0;

  // Layout: component in bits 48..55, layer in 24..47, expert in 0..23.
  uint64_t Pack() const {
    return (static_cast<uint64_t>(component) << 48) |
           (static_cast<uint64_t>(static_cast<uint32_t>(layer) & 0xFFFFFF) << 24) |
           (static_cast<uint64_t>(static_cast<uint32_t>(expert) & 0xFFFFFF));
  }
  static ExpertKey Unpack(uint64_t id) {
    return {static_cast<Component>((id >> 48) & 0xFF), static_cast<int32_t>((id >> 24) & 0xFFFFFF),
            static_cast<int32_t>(id & 0xFFFFFF)};
  }
  friend bool operator==(const ExpertKey&, const ExpertKey&) = default;
};

}  // namespace omnisage

#include "model/published_quant.h"

#include <fmt/format.h>

#include <cstring>

#include "ops/quant.h"

namespace omnisage {

std::string Int4Obstacle(const UnpackedWeight& w) {
  if (w.bits != 4) return fmt::format("{}-bit values", w.bits);
  if (!CheckQuantShape(WeightFormat::kInt4, w.out, w.in, w.group, "").ok()) {
    return fmt::format("groups of {} inputs (the int4 kernels take 32, 64 or 128)", w.group);
  }
  if (!w.ContiguousGroups()) return "activation-ordered groups (g_idx)";
  for (int32_t z : w.zero) {
    if (z < 0 || z > 15) return fmt::format("a zero point of {}", z);
  }
  return "";
}

std::vector<uint8_t> ToEngineInt4(const UnpackedWeight& w) {
  const QuantLayout l = LayoutOf(WeightFormat::kInt4, w.out, w.in, w.group);
  std::vector<uint8_t> buf(l.total(), 0);
  const int64_t row_bytes = w.in / 2, half = kInt4Block / 2;
  for (int64_t o = 0; o < w.out; ++o) {
    uint8_t* row = buf.data() + l.q_offset + o * row_bytes;
    const uint8_t* q = w.q.data() + o * w.in;
    for (int64_t i = 0; i < w.in; ++i) {
      const int64_t block = i / kInt4Block, j = i % kInt4Block;
      uint8_t& byte = row[block * half + j % half];
      byte |= j < half ? q[i] : static_cast<uint8_t>(q[i] << 4);
    }
  }
  std::memcpy(buf.data() + l.scale_offset, w.scale.data(), w.scale.size() * sizeof(float));
  for (size_t g = 0; g < w.zero.size(); ++g) {
    buf[l.zero_offset + g] = static_cast<uint8_t>(w.zero[g]);
  }
  return buf;
}

std::string SchemeName(const QuantScheme& s) {
  std::string out = fmt::format("int{} {} {}", s.bits,
                                s.group_size > 0 ? fmt::format("g{}", s.group_size) : "per-channel",
                                s.symmetric ? "sym" : "asym");
  if (s.act_order) out += " act-order";
  return out;
}

bool Int4Compatible(const QuantScheme& s) {
  return s.bits == 4 && !s.act_order &&
         (s.group_size == 32 || s.group_size == 64 || s.group_size == 128);
}

std::vector<ComponentQuant> TakeQuantInventory(const WeightSource& source,
                                               const QuantConfig& config) {
  std::vector<ComponentQuant> by(kNumComponents);
  std::vector<bool> seen(kNumComponents, false);
  auto ends = [](const std::string& s, std::string_view tail) {
    return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (const WeightEntry& t : source.tensors()) {
    std::string module;
    if (ends(t.name, ".qweight")) {
      module = t.name.substr(0, t.name.size() - std::strlen(".qweight"));
    } else if (ends(t.name, ".weight_packed")) {
      module = t.name.substr(0, t.name.size() - std::strlen(".weight_packed"));
    } else if (!(ends(t.name, ".weight") && t.shape.size() == 2)) {
      continue;
    }
    const Component c = ClassifyTensor(module.empty() ? t.name : module + ".weight").component;
    ComponentQuant& q = by[static_cast<int>(c)];
    q.component = c;
    seen[static_cast<int>(c)] = true;
    if (module.empty()) {
      ++q.unquantized;
      continue;
    }
    const std::optional<QuantScheme> scheme = SchemeFor(config, module);
    if (!scheme) {
      ++q.unmatched;
      continue;
    }
    ++q.quantized;
    ++q.schemes[SchemeName(*scheme)];
    q.int4_compatible += Int4Compatible(*scheme);
  }
  std::vector<ComponentQuant> out;
  for (int c = 0; c < kNumComponents; ++c) {
    if (seen[c]) out.push_back(by[c]);
  }
  return out;
}

}  // namespace omnisage

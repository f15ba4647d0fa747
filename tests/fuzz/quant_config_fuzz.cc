// libFuzzer target for the quantization_config reader (io/quant_config.h).
//
// Each input is parsed as JSON (nlohmann, without exceptions) and, when it is JSON, handed to
// ParseQuantConfig, at the top level and as config.json's "quantization_config". Neither may
// crash, leak or hang, and an accepted config must satisfy the header's promises: at least one
// group, bits of 4 or 8, a group size of 0 (per channel) or more, a method and format it names;
// DescribeQuantConfig and SchemeFor must work on it (SchemeFor only when no pattern is a regex:
// std::regex matching backtracks, and a config's own regexes are trusted input).
//
// Run with scripts/run-fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "io/quant_config.h"

namespace omnisage {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

bool HasRegex(const QuantConfig& c) {
  for (const ModulePattern& p : c.ignore) {
    if (p.kind == ModulePattern::Kind::kRegex) return true;
  }
  for (const QuantGroup& g : c.groups) {
    for (const ModulePattern& p : g.targets) {
      if (p.kind == ModulePattern::Kind::kRegex) return true;
    }
  }
  return false;
}

void FuzzConfig(const nlohmann::json& j) {
  auto c = ParseQuantConfig(j, "config.json: quantization_config");
  if (!c.ok()) {
    Check(c.status().message().find("config.json: quantization_config") != std::string::npos,
          "an error that does not name the config");
    return;
  }
  Check(!c->groups.empty(), "no groups");
  for (const QuantGroup& g : c->groups) {
    Check(g.scheme.bits == 4 || g.scheme.bits == 8, "bits");
    Check(g.scheme.group_size >= 0, "group size");
    for (const ModulePattern& p : g.targets) {
      Check(p.kind != ModulePattern::Kind::kRegex || p.re != nullptr, "an uncompiled regex");
    }
  }
  Check(!c->format.empty(), "no format");
  Check(!DescribeQuantConfig(*c).empty(), "no description");
  if (!HasRegex(*c)) {
    for (const char* m : {"lm_head", "model.layers.0.mlp.experts.0.gate_proj",
                          "thinker.visual.blocks.0.attn.qkv", ""}) {
      auto s = SchemeFor(*c, m);
      if (s) Check(s->bits == 4 || s->bits == 8, "scheme bits");
    }
  }
}

}  // namespace
}  // namespace omnisage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  omnisage::FuzzConfig(j);
  if (j.is_object() && j.contains("quantization_config")) {
    omnisage::FuzzConfig(j["quantization_config"]);
  }
  return 0;
}

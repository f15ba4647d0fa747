#include "io/quant_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "io/file.h"
#include "util/json_fields.h"

namespace omnisage {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxRegexLength = 512;
constexpr int kMaxRegexDepth = 16;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Status Bad(const std::string& where, const std::string& field, const std::string& what) {
  return InvalidArgument(fmt::format("{}.{}: {}", where, field, what));
}

// q[key] as a string (absent or null: `fallback`).
StatusOr<std::string> String(const json& q, const std::string& key, const std::string& where,
                             const std::string& fallback) {
  if (!q.contains(key) || q[key].is_null()) return fallback;
  if (!q[key].is_string()) return Bad(where, key, "must be a string (got " + q[key].dump() + ")");
  return q[key].get<std::string>();
}

StatusOr<bool> Bool(const json& q, const std::string& key, const std::string& where,
                    bool fallback) {
  if (!q.contains(key) || q[key].is_null()) return fallback;
  if (!q[key].is_boolean())
    return Bad(where, key, "must be true or false (got " + q[key].dump() + ")");
  return q[key].get<bool>();
}

// An integer field, the first of `keys` present (absent: `fallback`).
StatusOr<int64_t> Int(const json& q, std::initializer_list<const char*> keys,
                      const std::string& where, std::optional<int64_t> fallback) {
  for (const char* key : keys) {
    if (!q.contains(key) || q[key].is_null()) continue;
    if (!q[key].is_number_integer()) {
      return Bad(where, key, "must be an integer (got " + q[key].dump() + ")");
    }
    return q[key].get<int64_t>();
  }
  if (fallback) return *fallback;
  return Bad(where, *keys.begin(), "is missing");
}

Status CheckBits(int64_t bits, const std::string& where, const std::string& field) {
  if (bits == 4 || bits == 8) return Status::Ok();
  return Bad(where, field, fmt::format("{}-bit weights are not supported (4 or 8)", bits));
}

// A group size as AWQ and GPTQ write it: −1 is one group per output channel (0 here).
StatusOr<int64_t> GroupSize(int64_t g, const std::string& where, const std::string& field) {
  if (g == -1) return int64_t{0};
  if (g <= 0) {
    return Bad(where, field, fmt::format("must be positive or -1 (per channel) (got {})", g));
  }
  return g;
}

// A list of strings (absent or null: empty).
StatusOr<std::vector<std::string>> Strings(const json& q, const std::string& key,
                                           const std::string& where) {
  std::vector<std::string> out;
  if (!q.contains(key) || q[key].is_null()) return out;
  if (!q[key].is_array()) return Bad(where, key, "must be a list of strings");
  for (const json& v : q[key]) {
    if (!v.is_string()) return Bad(where, key, "must be a list of strings (got " + v.dump() + ")");
    out.push_back(v.get<std::string>());
  }
  return out;
}

StatusOr<std::vector<ModulePattern>> Substrings(const json& q, const std::string& key,
                                                const std::string& where) {
  OMNI_ASSIGN_OR_RETURN(const std::vector<std::string> names, Strings(q, key, where));
  std::vector<ModulePattern> out;
  for (const std::string& n : names) {
    OMNI_ASSIGN_OR_RETURN(ModulePattern p,
                          MakePattern(ModulePattern::Kind::kSubstring, n, where + "." + key));
    out.push_back(std::move(p));
  }
  return out;
}

// compressed-tensors' targets and ignore entries: "re:REGEX", a class name, or a module name.
StatusOr<std::vector<ModulePattern>> CtPatterns(const json& q, const std::string& key,
                                                const std::string& where) {
  OMNI_ASSIGN_OR_RETURN(const std::vector<std::string> names, Strings(q, key, where));
  std::vector<ModulePattern> out;
  for (const std::string& n : names) {
    ModulePattern::Kind kind = ModulePattern::Kind::kExact;
    std::string text = n;
    if (n.rfind("re:", 0) == 0) {
      kind = ModulePattern::Kind::kRegex;
      text = n.substr(3);
    } else if (!n.empty() && std::isupper(static_cast<unsigned char>(n[0])) &&
               n.find('.') == std::string::npos) {
      kind = ModulePattern::Kind::kClass;  // "Linear"
    }
    OMNI_ASSIGN_OR_RETURN(ModulePattern p, MakePattern(kind, std::move(text), where + "." + key));
    out.push_back(std::move(p));
  }
  return out;
}

StatusOr<QuantConfig> ParseAwq(const json& q, const std::string& where) {
  QuantConfig c;
  c.method = QuantMethod::kAwq;
  QuantGroup g;
  OMNI_ASSIGN_OR_RETURN(const int64_t bits, Int(q, {"bits", "w_bit"}, where, 4));
  if (bits != 4) return Bad(where, "bits", fmt::format("AWQ packs 4-bit weights (got {})", bits));
  g.scheme.bits = 4;
  OMNI_ASSIGN_OR_RETURN(const int64_t group, Int(q, {"group_size", "q_group_size"}, where, 128));
  OMNI_ASSIGN_OR_RETURN(g.scheme.group_size, GroupSize(group, where, "group_size"));
  OMNI_ASSIGN_OR_RETURN(const bool zero_point, Bool(q, "zero_point", where, true));
  g.scheme.symmetric = !zero_point;
  OMNI_ASSIGN_OR_RETURN(std::string version, String(q, "version", where, "gemm"));
  c.format = Lower(version);
  if (c.format != "gemm") {
    return Bad(
        where, "version",
        fmt::format("AWQ packing '{}' is not supported (gemm: AutoAWQ's GEMM layout)", version));
  }
  OMNI_ASSIGN_OR_RETURN(c.ignore, Substrings(q, "modules_to_not_convert", where));
  c.groups.push_back(std::move(g));
  return c;
}

StatusOr<QuantScheme> GptqScheme(const json& q, const std::string& where,
                                 const QuantScheme& fallback) {
  QuantScheme s;
  OMNI_ASSIGN_OR_RETURN(const int64_t bits, Int(q, {"bits"}, where, fallback.bits));
  OMNI_RETURN_IF_ERROR(CheckBits(bits, where, "bits"));
  s.bits = static_cast<int>(bits);
  OMNI_ASSIGN_OR_RETURN(
      const int64_t group,
      Int(q, {"group_size"}, where, fallback.group_size == 0 ? -1 : fallback.group_size));
  OMNI_ASSIGN_OR_RETURN(s.group_size, GroupSize(group, where, "group_size"));
  OMNI_ASSIGN_OR_RETURN(s.symmetric, Bool(q, "sym", where, fallback.symmetric));
  OMNI_ASSIGN_OR_RETURN(s.act_order, Bool(q, "desc_act", where, fallback.act_order));
  return s;
}

StatusOr<QuantConfig> ParseGptq(const json& q, const std::string& where) {
  QuantConfig c;
  c.method = QuantMethod::kGptq;
  QuantScheme defaults;
  defaults.group_size = 128;
  OMNI_ASSIGN_OR_RETURN(const QuantScheme scheme, GptqScheme(q, where, defaults));
  OMNI_ASSIGN_OR_RETURN(std::string format, String(q, "checkpoint_format", where, ""));
  if (format.empty()) {
    OMNI_ASSIGN_OR_RETURN(format, String(q, "format", where, "gptq"));
  }
  c.format = Lower(format);
  if (c.format != "gptq" && c.format != "gptq_v2") {
    return Bad(where, "checkpoint_format",
               fmt::format("GPTQ format '{}' is not supported (gptq or gptq_v2)", format));
  }
  OMNI_ASSIGN_OR_RETURN(c.ignore, Substrings(q, "modules_to_not_convert", where));
  // GPTQModel's per-module rules: "-:REGEX" skips, "+:REGEX" (or "REGEX") overrides.
  if (q.contains("dynamic") && !q["dynamic"].is_null()) {
    const json& dynamic = q["dynamic"];
    if (!dynamic.is_object()) return Bad(where, "dynamic", "must be an object of REGEX: {…}");
    for (const auto& [key, rule] : dynamic.items()) {
      const std::string at = where + ".dynamic[" + json(key).dump() + "]";
      const bool skip = key.rfind("-:", 0) == 0;
      const std::string regex =
          key.rfind("-:", 0) == 0 || key.rfind("+:", 0) == 0 ? key.substr(2) : key;
      OMNI_ASSIGN_OR_RETURN(ModulePattern p, MakePattern(ModulePattern::Kind::kRegex, regex, at));
      if (skip) {
        c.ignore.push_back(std::move(p));
        continue;
      }
      if (!rule.is_object()) return InvalidArgument(at + ": must be an object of overrides");
      QuantGroup g;
      g.name = key;
      g.targets.push_back(std::move(p));
      OMNI_ASSIGN_OR_RETURN(g.scheme, GptqScheme(rule, at, scheme));
      c.groups.push_back(std::move(g));
    }
  }
  QuantGroup all;
  all.scheme = scheme;
  c.groups.push_back(std::move(all));
  return c;
}

StatusOr<QuantScheme> CtWeights(const json& w, const std::string& where) {
  if (!w.is_object()) return InvalidArgument(where + ": must be an object");
  QuantScheme s;
  OMNI_ASSIGN_OR_RETURN(const int64_t bits, Int(w, {"num_bits"}, where, std::nullopt));
  OMNI_RETURN_IF_ERROR(CheckBits(bits, where, "num_bits"));
  s.bits = static_cast<int>(bits);
  OMNI_ASSIGN_OR_RETURN(const std::string type, String(w, "type", where, "int"));
  if (type != "int") {
    return Bad(where, "type", fmt::format("'{}' weights are not supported (int)", type));
  }
  OMNI_ASSIGN_OR_RETURN(s.symmetric, Bool(w, "symmetric", where, true));
  OMNI_ASSIGN_OR_RETURN(const bool dynamic, Bool(w, "dynamic", where, false));
  if (dynamic) return Bad(where, "dynamic", "dynamic weight quantization is not supported");
  OMNI_ASSIGN_OR_RETURN(const std::string strategy, String(w, "strategy", where, ""));
  if (strategy == "group") {
    OMNI_ASSIGN_OR_RETURN(s.group_size, Int(w, {"group_size"}, where, std::nullopt));
    if (s.group_size <= 0) {
      return Bad(where, "group_size", fmt::format("must be positive (got {})", s.group_size));
    }
  } else if (strategy == "channel") {
    s.group_size = 0;
  } else {
    return Bad(where, "strategy",
               fmt::format("strategy '{}' is not supported (group or channel)", strategy));
  }
  // actorder "group" stores a g_idx; "weight" only reordered the work (groups stay contiguous).
  if (w.contains("actorder") && !w["actorder"].is_null()) {
    const json& a = w["actorder"];
    if (a.is_boolean()) {
      s.act_order = a.get<bool>();
    } else if (a == "group") {
      s.act_order = true;
    } else if (a != "weight" && a != "static") {
      return Bad(where, "actorder", "must be null, group, weight or static (got " + a.dump() + ")");
    }
    if (s.act_order && strategy != "group") {
      return Bad(where, "actorder", "activation order needs the group strategy");
    }
  }
  return s;
}

StatusOr<QuantConfig> ParseCompressedTensors(const json& q, const std::string& where) {
  QuantConfig c;
  c.method = QuantMethod::kCompressedTensors;
  OMNI_ASSIGN_OR_RETURN(c.format, String(q, "format", where, ""));
  OMNI_ASSIGN_OR_RETURN(const std::string status,
                        String(q, "quantization_status", where, "compressed"));
  if (status != "compressed") {
    return Bad(where, "quantization_status",
               fmt::format("'{}': only compressed checkpoints are read (compressed)", status));
  }
  if (q.contains("kv_cache_scheme") && !q["kv_cache_scheme"].is_null()) {
    return Bad(where, "kv_cache_scheme", "quantized KV caches are not supported");
  }
  OMNI_ASSIGN_OR_RETURN(c.ignore, CtPatterns(q, "ignore", where));
  if (!q.contains("config_groups") || !q["config_groups"].is_object() ||
      q["config_groups"].empty()) {
    return Bad(where, "config_groups", "must be a non-empty object of groups");
  }
  for (const auto& [name, group] : q["config_groups"].items()) {
    const std::string at = where + ".config_groups." + name;
    if (!group.is_object()) return InvalidArgument(at + ": must be an object");
    QuantGroup g;
    g.name = name;
    OMNI_ASSIGN_OR_RETURN(g.targets, CtPatterns(group, "targets", at));
    if (g.targets.empty()) return Bad(at, "targets", "must name at least one module or class");
    for (const char* act : {"input_activations", "output_activations"}) {
      if (group.contains(act) && !group[act].is_null()) {
        return Bad(at, act, "activation quantization is not supported (weight-only schemes)");
      }
    }
    if (!group.contains("weights") || group["weights"].is_null()) {
      return Bad(at, "weights", "is missing (weight-only schemes are read)");
    }
    OMNI_ASSIGN_OR_RETURN(g.scheme, CtWeights(group["weights"], at + ".weights"));
    OMNI_ASSIGN_OR_RETURN(const std::string format, String(group, "format", at, c.format));
    if (c.format.empty()) c.format = format;
    if (format != "pack-quantized") {
      return Bad(
          at, "format",
          fmt::format("compressed-tensors format '{}' is not supported (pack-quantized)", format));
    }
    c.groups.push_back(std::move(g));
  }
  if (c.format != "pack-quantized") {
    return Bad(
        where, "format",
        fmt::format("compressed-tensors format '{}' is not supported (pack-quantized)", c.format));
  }
  return c;
}

}  // namespace

std::string_view QuantMethodName(QuantMethod m) {
  switch (m) {
    case QuantMethod::kAwq:
      return "awq";
    case QuantMethod::kGptq:
      return "gptq";
    case QuantMethod::kCompressedTensors:
      return "compressed-tensors";
  }
  return "?";
}

bool ModulePattern::Matches(std::string_view module) const {
  switch (kind) {
    case Kind::kClass:
      return text == "Linear";  // every module read here is a linear layer
    case Kind::kExact:
      return module == text;
    case Kind::kSubstring:
      return module.find(text) != std::string_view::npos;
    case Kind::kRegex:
      // Python's re.match: anchored at the start, not at the end.
      return re != nullptr && std::regex_search(module.begin(), module.end(), *re,
                                                std::regex_constants::match_continuous);
  }
  return false;
}

StatusOr<ModulePattern> MakePattern(ModulePattern::Kind kind, std::string text,
                                    const std::string& where) {
  ModulePattern p;
  p.kind = kind;
  p.text = std::move(text);
  if (kind == ModulePattern::Kind::kRegex) {
    // std::regex compiles and matches by recursion: bound what a config may ask of it.
    int depth = 0, deepest = 0;
    for (char ch : p.text) {
      depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
      deepest = std::max(deepest, depth);
    }
    if (p.text.size() > kMaxRegexLength || deepest > kMaxRegexDepth) {
      return InvalidArgument(fmt::format(
          "{}: a regex of {} characters nested {} deep is more than this reader takes ({}, {})",
          where, p.text.size(), deepest, kMaxRegexLength, kMaxRegexDepth));
    }
    // Counted repetition ({m,n}) and back-references (\1) are refused: module patterns do not
    // need them, and libstdc++ compiles their numbers without an overflow check (and a large
    // count into as many states).
    for (size_t i = 0; i < p.text.size(); ++i) {
      const bool backref = p.text[i] == '\\' && i + 1 < p.text.size() &&
                           std::isdigit(static_cast<unsigned char>(p.text[i + 1]));
      if (p.text[i] == '{' || backref) {
        return InvalidArgument(
            fmt::format("{}: the regex '{}' uses {} (not taken in module patterns)", where, p.text,
                        backref ? "a back-reference" : "a counted repetition {m,n}"));
      }
    }
    try {
      p.re = std::make_shared<const std::regex>(p.text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument(
          fmt::format("{}: the regex '{}' does not compile: {}", where, p.text, e.what()));
    }
  }
  return p;
}

StatusOr<QuantConfig> ParseQuantConfig(const json& q, const std::string& where) {
  try {
    if (!q.is_object()) return InvalidArgument(where + ": must be an object");
    OMNI_ASSIGN_OR_RETURN(const std::string method, String(q, "quant_method", where, ""));
    const std::string m = Lower(method);
    if (m == "awq") return ParseAwq(q, where);
    if (m == "gptq") return ParseGptq(q, where);
    if (m == "compressed-tensors" || m == "compressed_tensors") {
      return ParseCompressedTensors(q, where);
    }
    return Bad(where, "quant_method",
               fmt::format("'{}' is not a quantization this engine reads (awq, gptq, "
                           "compressed-tensors)",
                           method));
  } catch (const json::exception& e) {
    return InvalidArgument(fmt::format("{}: {}", where, e.what()));
  }
}

StatusOr<std::optional<QuantConfig>> LoadQuantConfig(const std::string& config_path) {
  OMNI_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(config_path));
  OMNI_ASSIGN_OR_RETURN(const json j, ParseJson(text, config_path));
  if (!j.is_object() || !j.contains("quantization_config") || j["quantization_config"].is_null()) {
    return std::optional<QuantConfig>();
  }
  OMNI_ASSIGN_OR_RETURN(QuantConfig c, ParseQuantConfig(j["quantization_config"],
                                                        config_path + ": quantization_config"));
  return std::optional<QuantConfig>(std::move(c));
}

std::optional<QuantScheme> SchemeFor(const QuantConfig& config, std::string_view module) {
  for (const ModulePattern& p : config.ignore) {
    if (p.Matches(module)) return std::nullopt;
  }
  for (const QuantGroup& g : config.groups) {
    if (g.targets.empty()) return g.scheme;
    for (const ModulePattern& p : g.targets) {
      if (p.Matches(module)) return g.scheme;
    }
  }
  return std::nullopt;
}

std::string DescribeQuantConfig(const QuantConfig& config) {
  std::string out = fmt::format("{} {}", QuantMethodName(config.method), config.format);
  if (config.groups.empty()) return out;
  // The scheme of every module (GPTQ's last group), else the first group's.
  const QuantGroup* main = &config.groups.front();
  for (const QuantGroup& g : config.groups) {
    if (g.targets.empty()) main = &g;
  }
  const QuantScheme& s = main->scheme;
  out += fmt::format(" int{} {} {}", s.bits,
                     s.group_size > 0 ? fmt::format("g{}", s.group_size) : "per-channel",
                     s.symmetric ? "sym" : "asym");
  if (s.act_order) out += " act-order";
  if (config.groups.size() > 1) out += fmt::format(" ({} schemes)", config.groups.size());
  if (!config.ignore.empty()) out += fmt::format(", {} ignore rules", config.ignore.size());
  return out;
}

}  // namespace omnisage

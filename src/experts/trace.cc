#include "experts/trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "experts/cached_experts.h"
#include "util/json_fields.h"

namespace omnisage {

using nlohmann::json;
using nlohmann::ordered_json;

std::optional<Component> ParseComponentName(std::string_view name) {
  for (int i = 0; i < kNumComponents; ++i) {
    if (ComponentName(static_cast<Component>(i)) == name) return static_cast<Component>(i);
  }
  return std::nullopt;
}

TraceComponent TraceComponentOf(Component component, const DecoderConfig& c) {
  TraceComponent tc;
  tc.component = component;
  tc.layers = static_cast<int>(c.num_layers);
  tc.experts = static_cast<int>(c.num_experts);
  tc.k = static_cast<int>(c.num_experts_per_tok);
  tc.expert_bytes = CachedExperts::ExpertBytes(c);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.IsMoeLayer(l)) tc.moe_layers.push_back(static_cast<int>(l));
  }
  return tc;
}

TraceHeader TraceHeaderOf(const ModelConfig& config, Component component) {
  return {.model = config.model_type,
          .total_expert_bytes = CachedExperts::TotalExpertBytes(config.text),
          .components = {TraceComponentOf(component, config.text)}};
}

Status CheckTraceFitsModel(const TraceHeader& trace, const TraceHeader& expected,
                           const std::string& trace_name, const std::string& model_name) {
  const auto refuse = [&](const std::string& what) {
    return InvalidArgument(fmt::format(
        "{} was recorded on another model than {}: {}; its routing would be credited to the "
        "wrong experts (record a trace with run --trace on this model)",
        trace_name, model_name, what));
  };
  if (trace.model != expected.model) {
    return refuse(
        fmt::format("model type '{}' in the trace, '{}' here", trace.model, expected.model));
  }
  const auto shape = [](const TraceComponent& c) {
    return fmt::format("{} layers ({} with experts) of {} experts, k {}, {} bytes per expert",
                       c.layers, c.moe_layers.size(), c.experts, c.k, c.expert_bytes);
  };
  for (const TraceComponent& t : trace.components) {
    const TraceComponent* e = expected.Find(t.component);
    if (e == nullptr) {
      return refuse(fmt::format("the trace routes the {}, which this model does not run",
                                ComponentName(t.component)));
    }
    if (t.layers != e->layers || t.experts != e->experts || t.k != e->k ||
        t.expert_bytes != e->expert_bytes || t.moe_layers != e->moe_layers) {
      return refuse(fmt::format("{}: {} in the trace, {} here", ComponentName(t.component),
                                shape(t), shape(*e)));
    }
  }
  return Status::Ok();
}

const TraceComponent* TraceHeader::Find(Component c) const {
  for (const TraceComponent& tc : components) {
    if (tc.component == c) return &tc;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Writing.

std::string TraceHeaderToJsonLine(const TraceHeader& header) {
  ordered_json j;
  j["omnisage_trace"] = kTraceVersion;
  j["model"] = header.model;
  j["total_expert_bytes"] = header.total_expert_bytes;
  ordered_json comps = ordered_json::array();
  for (const TraceComponent& c : header.components) {
    ordered_json jc;
    jc["component"] = ComponentName(c.component);
    jc["layers"] = c.layers;
    jc["experts"] = c.experts;
    jc["k"] = c.k;
    jc["expert_bytes"] = c.expert_bytes;
    jc["moe_layers"] = c.moe_layers;
    comps.push_back(std::move(jc));
  }
  j["components"] = std::move(comps);
  return j.dump();
}

// Written by hand rather than through nlohmann::json: fmt prints a float in the fewest digits
// that read back to the same float ("0.3", not "0.30000001192092896"), which keeps lines short.
std::string TraceRecordToJsonLine(const TraceRecord& r) {
  std::string out = fmt::format(R"({{"step":{},"pos":{},"component":"{}","layer":{},"experts":[)",
                                r.step, r.pos, ComponentName(r.component), r.layer);
  for (size_t i = 0; i < r.experts.size(); ++i) {
    if (i != 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}", r.experts[i]);
  }
  out += R"(],"weights":[)";
  for (size_t i = 0; i < r.weights.size(); ++i) {
    if (i != 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}", r.weights[i]);
  }
  out += "]}";
  return out;
}

StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Create(const std::string& path,
                                                           const TraceHeader& header) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, NewWritableFile(path));
  std::unique_ptr<TraceWriter> w(new TraceWriter());
  w->path_ = path;
  w->file_ = std::move(file);
  OMNI_RETURN_IF_ERROR(w->file_->Append(TraceHeaderToJsonLine(header) + "\n"));
  return w;
}

TraceWriter::~TraceWriter() {
  if (file_ != nullptr) (void)file_->Close();
}

Status TraceWriter::Append(const TraceRecord& record) {
  if (file_ == nullptr) return Internal(fmt::format("{}: trace already closed", path_));
  if (record.experts.size() != record.weights.size()) {
    return InvalidArgument(fmt::format("{}: record at step {} layer {}: {} experts but {} weights",
                                       path_, record.step, record.layer, record.experts.size(),
                                       record.weights.size()));
  }
  for (size_t i = 0; i < record.weights.size(); ++i) {
    if (!std::isfinite(record.weights[i])) {
      return InvalidArgument(fmt::format("{}: record at step {} layer {}: weights[{}] is {}", path_,
                                         record.step, record.layer, i, record.weights[i]));
    }
  }
  // WritableFile hands its buffer to the OS before an append that would overflow it, so a whole
  // line appended at once never straddles a flush.
  return file_->Append(TraceRecordToJsonLine(record) + "\n");
}

Status TraceWriter::Flush() {
  if (file_ == nullptr) return Internal(fmt::format("{}: trace already closed", path_));
  return file_->Flush();
}

Status TraceWriter::Close() {
  if (file_ == nullptr) return Status::Ok();
  Status s = file_->Close();
  file_.reset();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Reading.

namespace {

// An integer field that must lie in [lo, hi].
StatusOr<int64_t> GetIntIn(const json& obj, std::string_view key, const JsonPath& at, int64_t lo,
                           int64_t hi) {
  OMNI_ASSIGN_OR_RETURN(int64_t v, GetInt(obj, key, at));
  if (v < lo || v > hi) {
    return at.Child(key).Error(hi == INT64_MAX ? fmt::format("{} is below {}", v, lo)
                                               : fmt::format("{} is not in [{}, {}]", v, lo, hi));
  }
  return v;
}

// The array obj[key]; elements are named "key[i]" in errors.
StatusOr<const json*> GetArray(const json& obj, std::string_view key, const JsonPath& at) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return at.Child(key).Error("missing");
  if (!it->is_array()) {
    return at.Child(key).Error(fmt::format("expected an array, got {}", it->dump()));
  }
  return &*it;
}

StatusOr<int64_t> ElementInt(const json& v, const JsonPath& at) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
      return static_cast<int64_t>(d);
    }
  }
  return at.Error(fmt::format("expected an integer, got {}", v.dump()));
}

StatusOr<TraceHeader> ParseHeader(const json& j, const JsonPath& at) {
  if (!j.is_object()) return at.Error("expected the trace header, a JSON object");
  if (!j.contains("omnisage_trace")) {
    return at.Child("omnisage_trace").Error("missing (the first line must be the trace header)");
  }
  OMNI_ASSIGN_OR_RETURN(int64_t version, GetInt(j, "omnisage_trace", at));
  if (version != kTraceVersion) {
    return at.Child("omnisage_trace")
        .Error(fmt::format("version {} is not supported (this build reads {})", version,
                           kTraceVersion));
  }
  TraceHeader h;
  OMNI_ASSIGN_OR_RETURN(h.model, GetString(j, "model", at));
  OMNI_ASSIGN_OR_RETURN(int64_t total, GetIntIn(j, "total_expert_bytes", at, 0, INT64_MAX));
  h.total_expert_bytes = static_cast<uint64_t>(total);
  OMNI_ASSIGN_OR_RETURN(const json* comps, GetArray(j, "components", at));
  if (comps->empty()) return at.Child("components").Error("empty (no MoE component)");
  for (size_t i = 0; i < comps->size(); ++i) {
    const JsonPath cat = at.Child(fmt::format("components[{}]", i));
    const json& jc = (*comps)[i];
    if (!jc.is_object()) return cat.Error("expected a JSON object");
    TraceComponent c;
    OMNI_ASSIGN_OR_RETURN(std::string name, GetString(jc, "component", cat));
    auto comp = ParseComponentName(name);
    if (!comp) return cat.Child("component").Error(fmt::format("unknown component '{}'", name));
    if (h.Find(*comp) != nullptr) {
      return cat.Child("component").Error(fmt::format("'{}' described twice", name));
    }
    c.component = *comp;
    OMNI_ASSIGN_OR_RETURN(int64_t layers, GetIntIn(jc, "layers", cat, 1, 1 << 20));
    OMNI_ASSIGN_OR_RETURN(int64_t experts, GetIntIn(jc, "experts", cat, 1, 1 << 20));
    OMNI_ASSIGN_OR_RETURN(int64_t k, GetIntIn(jc, "k", cat, 1, experts));
    OMNI_ASSIGN_OR_RETURN(int64_t bytes, GetIntIn(jc, "expert_bytes", cat, 1, INT64_MAX));
    c.layers = static_cast<int>(layers);
    c.experts = static_cast<int>(experts);
    c.k = static_cast<int>(k);
    c.expert_bytes = static_cast<uint64_t>(bytes);
    OMNI_ASSIGN_OR_RETURN(const json* moe, GetArray(jc, "moe_layers", cat));
    std::set<int64_t> seen;
    for (size_t m = 0; m < moe->size(); ++m) {
      const JsonPath mat = cat.Child(fmt::format("moe_layers[{}]", m));
      OMNI_ASSIGN_OR_RETURN(int64_t layer, ElementInt((*moe)[m], mat));
      if (layer < 0 || layer >= layers) {
        return mat.Error(fmt::format("layer {} out of range ({} layers)", layer, layers));
      }
      if (!seen.insert(layer).second) return mat.Error(fmt::format("layer {} repeated", layer));
      c.moe_layers.push_back(static_cast<int>(layer));
    }
    h.components.push_back(std::move(c));
  }
  return h;
}

StatusOr<TraceRecord> ParseRecord(const json& j, const JsonPath& at, const TraceHeader& h) {
  if (!j.is_object()) return at.Error("expected a routing record, a JSON object");
  if (j.contains("omnisage_trace")) return at.Error("a second trace header");
  TraceRecord r;
  OMNI_ASSIGN_OR_RETURN(r.step, GetIntIn(j, "step", at, 0, INT64_MAX));
  OMNI_ASSIGN_OR_RETURN(r.pos, GetIntIn(j, "pos", at, 0, INT64_MAX));
  OMNI_ASSIGN_OR_RETURN(std::string name, GetString(j, "component", at));
  auto comp = ParseComponentName(name);
  if (!comp) return at.Child("component").Error(fmt::format("unknown component '{}'", name));
  const TraceComponent* tc = h.Find(*comp);
  if (tc == nullptr) {
    return at.Child("component").Error(fmt::format("'{}' is not in the header", name));
  }
  r.component = *comp;
  OMNI_ASSIGN_OR_RETURN(int64_t layer, GetInt(j, "layer", at));
  if (layer < 0 || layer >= tc->layers) {
    return at.Child("layer").Error(
        fmt::format("layer {} out of range ({} has {} layers)", layer, name, tc->layers));
  }
  if (std::find(tc->moe_layers.begin(), tc->moe_layers.end(), layer) == tc->moe_layers.end()) {
    return at.Child("layer").Error(
        fmt::format("layer {} is not a MoE layer of {} (header moe_layers)", layer, name));
  }
  r.layer = static_cast<int>(layer);
  OMNI_ASSIGN_OR_RETURN(const json* experts, GetArray(j, "experts", at));
  OMNI_ASSIGN_OR_RETURN(const json* weights, GetArray(j, "weights", at));
  std::unordered_set<int64_t> seen;
  for (size_t i = 0; i < experts->size(); ++i) {
    const JsonPath eat = at.Child(fmt::format("experts[{}]", i));
    OMNI_ASSIGN_OR_RETURN(int64_t e, ElementInt((*experts)[i], eat));
    if (e < 0 || e >= tc->experts) {
      return eat.Error(fmt::format("expert {} out of range ({} experts)", e, tc->experts));
    }
    if (!seen.insert(e).second) return eat.Error(fmt::format("expert {} repeated", e));
    r.experts.push_back(static_cast<int32_t>(e));
  }
  if (weights->size() != experts->size()) {
    return at.Child("weights").Error(
        fmt::format("{} weights for {} experts", weights->size(), experts->size()));
  }
  for (size_t i = 0; i < weights->size(); ++i) {
    const json& w = (*weights)[i];
    if (!w.is_number() || !std::isfinite(w.get<double>())) {
      return at.Child(fmt::format("weights[{}]", i))
          .Error(fmt::format("expected a finite number, got {}", w.dump()));
    }
    r.weights.push_back(w.get<float>());
  }
  return r;
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

StatusOr<Trace> ParseTrace(std::string_view text, const std::string& name) {
  Trace trace;
  bool have_header = false;
  size_t start = 0;
  int64_t line_no = 0;
  while (start < text.size()) {
    ++line_no;
    const size_t nl = text.find('\n', start);
    const bool terminated = nl != std::string_view::npos;
    const std::string_view line = text.substr(start, terminated ? nl - start : std::string::npos);
    start = terminated ? nl + 1 : text.size();
    if (IsBlank(line)) continue;
    const std::string where = fmt::format("{}:{}", name, line_no);
    json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      if (!terminated) {
        return InvalidArgument(fmt::format(
            "{}: last line cut short (no newline and not complete JSON; did the run that wrote "
            "the trace die?)",
            where));
      }
      auto parsed = ParseJson(line, where);  // for the parser's own message
      return parsed.ok() ? InvalidArgument(fmt::format("{}: invalid JSON", where))
                         : parsed.status();
    }
    const JsonPath at(where);
    if (!have_header) {
      OMNI_ASSIGN_OR_RETURN(trace.header, ParseHeader(j, at));
      have_header = true;
      continue;
    }
    OMNI_ASSIGN_OR_RETURN(TraceRecord r, ParseRecord(j, at, trace.header));
    if (!trace.records.empty() && r.step < trace.records.back().step) {
      return at.Child("step").Error(fmt::format("step {} after step {} (steps never decrease)",
                                                r.step, trace.records.back().step));
    }
    trace.records.push_back(std::move(r));
  }
  if (!have_header) return InvalidArgument(fmt::format("{}: empty (no trace header)", name));
  return trace;
}

StatusOr<Trace> ReadTrace(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseTrace(text, path);
}

}  // namespace omnisage

#include "experts/manifest.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/checksum.h"
#include "util/json_fields.h"

namespace omnisage {

using nlohmann::json;
using nlohmann::ordered_json;

std::string_view StoreFileKindName(StoreFileKind k) {
  switch (k) {
    case StoreFileKind::kDense:
      return "dense";
    case StoreFileKind::kRouter:
      return "router";
    case StoreFileKind::kExpert:
      return "expert";
    case StoreFileKind::kExtra:
      return "extra";
  }
  return "?";
}

std::string DescribeStoreQuantization(const StoreQuantization& q) {
  if (q.experts != WeightFormat::kInt4) return std::string(WeightFormatName(q.experts));
  return fmt::format("int4 g{}, {} rounding", q.group, Int4RoundingName(q.int4_rounding));
}

std::string ExpertFilePath(Component c, int layer, int expert) {
  return fmt::format("experts/{}/layer_{:02d}/expert_{:03d}.safetensors", ComponentName(c), layer,
                     expert);
}
std::string DenseFilePath(Component c) {
  return fmt::format("dense/{}.safetensors", ComponentName(c));
}
std::string RouterFilePath(Component c) {
  return fmt::format("routers/{}.safetensors", ComponentName(c));
}

std::optional<std::string> TilingProblem(const StoreFile& f) {
  if (f.tensors.empty()) return std::nullopt;
  std::vector<const StoreTensor*> sorted;
  for (const StoreTensor& t : f.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const StoreTensor* a, const StoreTensor* b) { return a->offset < b->offset; });
  if (sorted[0]->offset < 8) {
    return fmt::format("tensor '{}' at offset {} overlaps the header", sorted[0]->name,
                       sorted[0]->offset);
  }
  for (size_t i = 0; i + 1 < sorted.size(); ++i) {
    const StoreTensor& a = *sorted[i];
    const StoreTensor& b = *sorted[i + 1];
    if (a.offset + a.bytes != b.offset) {
      return fmt::format("tensor '{}' ends at offset {} but the next, '{}', starts at {}", a.name,
                         a.offset + a.bytes, b.name, b.offset);
    }
  }
  const StoreTensor& last = *sorted.back();
  if (last.offset + last.bytes != f.bytes) {
    return fmt::format("the last tensor, '{}', ends at offset {}, the file at {}", last.name,
                       last.offset + last.bytes, f.bytes);
  }
  return std::nullopt;
}

std::optional<std::string> HeaderProblem(const SafetensorsHeader& header, uint64_t data_offset,
                                         const StoreFile& f) {
  if (header.tensors.size() != f.tensors.size()) {
    return fmt::format("holds {} tensors, manifest lists {}", header.tensors.size(),
                       f.tensors.size());
  }
  auto shape = [](const std::vector<int64_t>& s) { return json(s).dump(); };
  for (const StoreTensor& t : f.tensors) {
    const TensorInfo* info = nullptr;
    for (const TensorInfo& i : header.tensors) {
      if (i.name == t.name) info = &i;
    }
    if (info == nullptr) return fmt::format("tensor '{}' is missing", t.name);
    if (info->dtype != t.dtype) {
      return fmt::format("tensor '{}': dtype {} in the file, {} in the manifest", t.name,
                         DTypeName(info->dtype), DTypeName(t.dtype));
    }
    if (info->shape != t.shape) {
      return fmt::format("tensor '{}': shape {} in the file, {} in the manifest", t.name,
                         shape(info->shape), shape(t.shape));
    }
    if (data_offset + info->data_begin != t.offset) {
      return fmt::format("tensor '{}': data at offset {} in the file, {} in the manifest", t.name,
                         data_offset + info->data_begin, t.offset);
    }
  }
  return std::nullopt;
}

ordered_json ManifestToJson(const Manifest& m) {
  ordered_json j;
  j["format"] = kStoreFormat;
  j["version"] = kStoreVersion;
  j["model_type"] = m.model_type;
  j["source"] = {{"path", m.source_path}, {"expert_layout", m.expert_layout}};
  ordered_json sel;
  sel["components"] = m.selection.components;
  sel["layers"] = m.selection.layers
                      ? ordered_json::array({m.selection.layers->first, m.selection.layers->second})
                      : ordered_json(nullptr);
  sel["experts"] =
      m.selection.experts.empty() ? ordered_json(nullptr) : ordered_json(m.selection.experts);
  sel["complete"] = m.selection.complete;
  j["selection"] = sel;
  if (m.quantization.quantized()) {
    ordered_json quant = ordered_json::object();
    if (m.quantization.experts != WeightFormat::kBf16) {
      ordered_json q = {{"format", WeightFormatName(m.quantization.experts)}};
      if (m.quantization.group > 0) q["group"] = m.quantization.group;
      if (m.quantization.experts == WeightFormat::kInt4) {
        q["rounding"] = Int4RoundingName(m.quantization.int4_rounding);
      }
      quant["experts"] = q;
    }
    if (m.quantization.dense != WeightFormat::kBf16) {
      quant["dense"] = {{"format", WeightFormatName(m.quantization.dense)}};
    }
    j["quantization"] = quant;
  }
  j["config"] = m.config;
  ordered_json files = ordered_json::array();
  for (const StoreFile& f : m.files) {
    ordered_json jf;
    jf["path"] = f.path;
    jf["kind"] = StoreFileKindName(f.kind);
    jf["component"] = ComponentName(f.component);
    if (f.layer >= 0) jf["layer"] = f.layer;
    if (f.expert >= 0) jf["expert"] = f.expert;
    jf["bytes"] = f.bytes;
    jf["xxh3"] = ChecksumHex(f.xxh3);
    ordered_json ts = ordered_json::array();
    for (const StoreTensor& t : f.tensors) {
      ts.push_back({{"name", t.name},
                    {"dtype", DTypeName(t.dtype)},
                    {"shape", t.shape},
                    {"offset", t.offset},
                    {"bytes", t.bytes},
                    {"source_shard", t.source_shard},
                    {"source_order", t.source_order}});
    }
    jf["tensors"] = ts;
    files.push_back(std::move(jf));
  }
  j["files"] = std::move(files);
  return j;
}

namespace {

StatusOr<Component> ParseComponent(const std::string& name, const JsonPath& at) {
  for (int i = 0; i < kNumComponents; ++i) {
    if (ComponentName(static_cast<Component>(i)) == name) return static_cast<Component>(i);
  }
  return at.Error(fmt::format("unknown component '{}'", name));
}

StatusOr<StoreFileKind> ParseKind(const std::string& name, const JsonPath& at) {
  for (auto k : {StoreFileKind::kDense, StoreFileKind::kRouter, StoreFileKind::kExpert,
                 StoreFileKind::kExtra}) {
    if (StoreFileKindName(k) == name) return k;
  }
  return at.Error(fmt::format("unknown kind '{}'", name));
}

StatusOr<uint64_t> GetU64(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(int64_t v, GetInt(obj, key, at));
  if (v < 0) return at.Child(key).Error("must not be negative");
  return static_cast<uint64_t>(v);
}

}  // namespace

StatusOr<Manifest> ParseManifest(std::string_view text, const std::string& file_name) {
  OMNI_ASSIGN_OR_RETURN(json root, ParseJson(text, file_name));
  JsonPath at(file_name);
  if (!root.is_object()) return at.Error("expected a JSON object");
  OMNI_ASSIGN_OR_RETURN(std::string format, GetString(root, "format", at));
  if (format != kStoreFormat) {
    return at.Child("format").Error(fmt::format("'{}' is not '{}'", format, kStoreFormat));
  }
  OMNI_ASSIGN_OR_RETURN(int64_t version, GetInt(root, "version", at));
  if (version != kStoreVersion) {
    return at.Child("version").Error(
        fmt::format("version {} is not supported (this build reads {})", version, kStoreVersion));
  }
  Manifest m;
  OMNI_ASSIGN_OR_RETURN(m.model_type, GetString(root, "model_type", at));
  m.config = root.contains("config") ? root["config"] : json(nullptr);
  if (root.contains("source") && root["source"].is_object()) {
    const json& s = root["source"];
    if (s.contains("path") && s["path"].is_string()) m.source_path = s["path"];
    if (s.contains("expert_layout") && s["expert_layout"].is_string()) {
      m.expert_layout = s["expert_layout"];
    }
  }
  if (root.contains("selection") && root["selection"].is_object()) {
    const json& s = root["selection"];
    JsonPath sat = at.Child("selection");
    if (s.contains("components") && s["components"].is_array()) {
      for (const json& c : s["components"]) {
        if (c.is_string()) m.selection.components.push_back(c);
      }
    }
    if (s.contains("layers") && s["layers"].is_array()) {
      OMNI_ASSIGN_OR_RETURN(std::vector<int64_t> l, GetIntArray(s, "layers", sat));
      if (l.size() != 2) return sat.Child("layers").Error("expected [first, last]");
      m.selection.layers = std::pair<int, int>(static_cast<int>(l[0]), static_cast<int>(l[1]));
    }
    if (s.contains("experts") && s["experts"].is_array()) {
      OMNI_ASSIGN_OR_RETURN(std::vector<int64_t> e, GetIntArray(s, "experts", sat));
      for (int64_t x : e) m.selection.experts.push_back(static_cast<int>(x));
    }
    OMNI_ASSIGN_OR_RETURN(m.selection.complete, GetBoolOr(s, "complete", sat, true));
  }
  const json* quant = root.contains("quantization") ? &root["quantization"] : nullptr;
  if (quant != nullptr && !quant->is_object()) {
    return at.Child("quantization").Error("expected an object {\"experts\": …, \"dense\": …}");
  }
  if (quant != nullptr && quant->contains("dense")) {
    const JsonPath dat = at.Child("quantization").Child("dense");
    const json& d = (*quant)["dense"];
    if (!d.is_object()) return dat.Error("expected an object {\"format\": \"int8\"}");
    OMNI_ASSIGN_OR_RETURN(std::string format, GetString(d, "format", dat));
    if (format != "int8") {
      return dat.Child("format").Error(
          fmt::format("unknown dense quantization '{}' (this build reads int8)", format));
    }
    m.quantization.dense = WeightFormat::kInt8;
  }
  if (quant != nullptr && quant->contains("experts")) {
    const JsonPath qat = at.Child("quantization").Child("experts");
    const json& q = *quant;
    if (!q["experts"].is_object()) {
      return qat.Error("expected an object {\"format\": ..., \"group\": ...}");
    }
    OMNI_ASSIGN_OR_RETURN(std::string format, GetString(q["experts"], "format", qat));
    const std::optional<WeightFormat> f = ParseWeightFormat(format);
    if (!f || *f == WeightFormat::kBf16) {
      return qat.Child("format").Error(
          fmt::format("unknown quantization '{}' (this build reads int8, int4)", format));
    }
    m.quantization.experts = *f;
    if (*f == WeightFormat::kInt4) {
      OMNI_ASSIGN_OR_RETURN(m.quantization.group, GetInt(q["experts"], "group", qat));
      if (Status s = CheckQuantShape(*f, 0, 0, m.quantization.group, "group"); !s.ok()) {
        return qat.Child("group").Error(s.message());
      }
      if (q["experts"].contains("rounding")) {
        OMNI_ASSIGN_OR_RETURN(std::string rounding, GetString(q["experts"], "rounding", qat));
        const std::optional<Int4Rounding> r = ParseInt4Rounding(rounding);
        if (!r) {
          return qat.Child("rounding")
              .Error(fmt::format("unknown int4 rounding '{}' (this build reads minmax, search)",
                                 rounding));
        }
        m.quantization.int4_rounding = *r;
      }
    }
  }
  if (!root.contains("files") || !root["files"].is_array()) {
    return at.Child("files").Error("missing or not an array");
  }
  const json& files = root["files"];
  m.files.reserve(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    JsonPath fat = at.Child(fmt::format("files.{}", i));
    const json& jf = files[i];
    StoreFile f;
    OMNI_ASSIGN_OR_RETURN(f.path, GetString(jf, "path", fat));
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos) {
      return fat.Child("path").Error(
          fmt::format("'{}' must be a relative path inside the store", f.path));
    }
    OMNI_ASSIGN_OR_RETURN(std::string kind, GetString(jf, "kind", fat));
    OMNI_ASSIGN_OR_RETURN(f.kind, ParseKind(kind, fat.Child("kind")));
    OMNI_ASSIGN_OR_RETURN(std::string comp, GetString(jf, "component", fat));
    OMNI_ASSIGN_OR_RETURN(f.component, ParseComponent(comp, fat.Child("component")));
    OMNI_ASSIGN_OR_RETURN(int64_t layer, GetIntOr(jf, "layer", fat, -1));
    OMNI_ASSIGN_OR_RETURN(int64_t expert, GetIntOr(jf, "expert", fat, -1));
    f.layer = static_cast<int>(layer);
    f.expert = static_cast<int>(expert);
    OMNI_ASSIGN_OR_RETURN(f.bytes, GetU64(jf, "bytes", fat));
    OMNI_ASSIGN_OR_RETURN(std::string hex, GetString(jf, "xxh3", fat));
    char* end = nullptr;
    f.xxh3 = std::strtoull(hex.c_str(), &end, 16);
    if (hex.size() != 16 || end != hex.c_str() + hex.size()) {
      return fat.Child("xxh3").Error(fmt::format("'{}' is not 16 hex digits", hex));
    }
    if (!jf.contains("tensors") || !jf["tensors"].is_array()) {
      return fat.Child("tensors").Error("missing or not an array");
    }
    for (size_t k = 0; k < jf["tensors"].size(); ++k) {
      JsonPath tat = fat.Child(fmt::format("tensors.{}", k));
      const json& jt = jf["tensors"][k];
      StoreTensor t;
      OMNI_ASSIGN_OR_RETURN(t.name, GetString(jt, "name", tat));
      OMNI_ASSIGN_OR_RETURN(std::string dtype, GetString(jt, "dtype", tat));
      auto dt = ParseDType(dtype);
      if (!dt) return tat.Child("dtype").Error(fmt::format("unknown dtype '{}'", dtype));
      t.dtype = *dt;
      OMNI_ASSIGN_OR_RETURN(t.shape, GetIntArray(jt, "shape", tat));
      OMNI_ASSIGN_OR_RETURN(t.offset, GetU64(jt, "offset", tat));
      OMNI_ASSIGN_OR_RETURN(t.bytes, GetU64(jt, "bytes", tat));
      uint64_t numel = DTypeSize(t.dtype);
      for (int64_t d : t.shape) {
        if (d < 0) return tat.Child("shape").Error("negative dimension");
        numel *= static_cast<uint64_t>(d);
      }
      if (numel != t.bytes) {
        return tat.Child("bytes").Error(
            fmt::format("{} bytes, but shape and dtype need {}", t.bytes, numel));
      }
      if (t.offset > f.bytes || t.bytes > f.bytes - t.offset) {
        return tat.Child("offset").Error("data lies outside the file");
      }
      if (jt.contains("source_shard") && jt["source_shard"].is_string()) {
        t.source_shard = jt["source_shard"];
      }
      OMNI_ASSIGN_OR_RETURN(int64_t order, GetIntOr(jt, "source_order", tat, 0));
      t.source_order = static_cast<uint64_t>(order);
      f.tensors.push_back(std::move(t));
    }
    m.files.push_back(std::move(f));
  }
  return m;
}

}  // namespace omnisage

#include "util/json_fields.h"

#include <fmt/format.h>

namespace omnisage {

using nlohmann::json;

JsonPath JsonPath::Child(std::string_view key) const {
  return JsonPath(file_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

std::string JsonPath::ToString() const { return path_.empty() ? file_ : file_ + ": " + path_; }

Status JsonPath::Error(std::string_view what) const {
  return InvalidArgument(fmt::format("{}: {}", ToString(), what));
}

StatusOr<json> ParseJson(std::string_view text, std::string_view file) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return InvalidArgument(fmt::format("{}: invalid JSON at byte {}: {}", file, e.byte, e.what()));
  } catch (const std::exception& e) {
    return InvalidArgument(fmt::format("{}: invalid JSON: {}", file, e.what()));
  }
}

namespace {

StatusOr<const json*> Field(const json& obj, std::string_view key, const JsonPath& at) {
  if (!obj.is_object()) return at.Error("expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return at.Child(key).Error("missing");
  return &*it;
}

const json* OptionalField(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

StatusOr<int64_t> AsInt(const json& v, const JsonPath& at) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  return at.Error(fmt::format("expected an integer, got {}", v.dump()));
}

StatusOr<double> AsDouble(const json& v, const JsonPath& at) {
  if (v.is_number()) return v.get<double>();
  return at.Error(fmt::format("expected a number, got {}", v.dump()));
}

StatusOr<bool> AsBool(const json& v, const JsonPath& at) {
  if (v.is_boolean()) return v.get<bool>();
  return at.Error(fmt::format("expected true or false, got {}", v.dump()));
}

}  // namespace

StatusOr<int64_t> GetInt(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  return AsInt(*v, at.Child(key));
}

StatusOr<double> GetDouble(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  return AsDouble(*v, at.Child(key));
}

StatusOr<bool> GetBool(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  return AsBool(*v, at.Child(key));
}

StatusOr<std::string> GetString(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  if (!v->is_string())
    return at.Child(key).Error(fmt::format("expected a string, got {}", v->dump()));
  return v->get<std::string>();
}

StatusOr<std::vector<int64_t>> GetIntArray(const json& obj, std::string_view key,
                                           const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  JsonPath here = at.Child(key);
  if (!v->is_array()) return here.Error(fmt::format("expected an array, got {}", v->dump()));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i) {
    OMNI_ASSIGN_OR_RETURN(int64_t x, AsInt((*v)[i], here.Child(std::to_string(i))));
    out.push_back(x);
  }
  return out;
}

StatusOr<const json*> GetObject(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(const json* v, Field(obj, key, at));
  if (!v->is_object()) return at.Child(key).Error("expected a JSON object");
  return v;
}

StatusOr<int64_t> GetIntOr(const json& obj, std::string_view key, const JsonPath& at,
                           int64_t fallback) {
  const json* v = OptionalField(obj, key);
  if (v == nullptr) return fallback;
  return AsInt(*v, at.Child(key));
}

StatusOr<double> GetDoubleOr(const json& obj, std::string_view key, const JsonPath& at,
                             double fallback) {
  const json* v = OptionalField(obj, key);
  if (v == nullptr) return fallback;
  return AsDouble(*v, at.Child(key));
}

StatusOr<bool> GetBoolOr(const json& obj, std::string_view key, const JsonPath& at, bool fallback) {
  const json* v = OptionalField(obj, key);
  if (v == nullptr) return fallback;
  return AsBool(*v, at.Child(key));
}

namespace {

std::optional<std::string> DifferenceAt(const nlohmann::json& a, const nlohmann::json& b,
                                        const std::string& path) {
  if (a == b) return std::nullopt;
  const auto here = [&](std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  };
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, va] : a.items()) {
      if (!b.contains(key)) return fmt::format("{}: {} vs (absent)", here(key), va.dump());
      if (auto d = DifferenceAt(va, b[key], here(key))) return d;
    }
    for (const auto& [key, vb] : b.items()) {
      if (!a.contains(key)) return fmt::format("{}: (absent) vs {}", here(key), vb.dump());
    }
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (auto d = DifferenceAt(a[i], b[i], here(std::to_string(i)))) return d;
    }
  }
  return fmt::format("{}: {} vs {}", path.empty() ? "(the whole value)" : path, a.dump(), b.dump());
}

}  // namespace

std::optional<std::string> FirstDifference(const nlohmann::json& a, const nlohmann::json& b) {
  return DifferenceAt(a, b, "");
}

}  // namespace omnisage

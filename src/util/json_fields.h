// Reading typed fields out of parsed JSON with errors that name the file and the field path.
//
// A JsonPath carries "<file>: <a.b.c>" so that every message reads, e.g.,
//   "config.json: thinker_config.text_config.num_experts: missing".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace omnisage {

class JsonPath {
 public:
  JsonPath(std::string file, std::string path = "")
      : file_(std::move(file)), path_(std::move(path)) {}
  JsonPath Child(std::string_view key) const;
  std::string ToString() const;               // "file: a.b" or "file" at the root
  Status Error(std::string_view what) const;  // InvalidArgument("file: a.b: what")

 private:
  std::string file_;
  std::string path_;
};

// Parses JSON text; the error names `file` and the byte offset. Never throws.
StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view file);

// Required fields: an error if absent or of the wrong type.
StatusOr<int64_t> GetInt(const nlohmann::json& obj, std::string_view key, const JsonPath& at);
StatusOr<double> GetDouble(const nlohmann::json& obj, std::string_view key, const JsonPath& at);
StatusOr<bool> GetBool(const nlohmann::json& obj, std::string_view key, const JsonPath& at);
StatusOr<std::string> GetString(const nlohmann::json& obj, std::string_view key,
                                const JsonPath& at);
StatusOr<std::vector<int64_t>> GetIntArray(const nlohmann::json& obj, std::string_view key,
                                           const JsonPath& at);
// The object at obj[key]; an error if absent or not an object.
StatusOr<const nlohmann::json*> GetObject(const nlohmann::json& obj, std::string_view key,
                                          const JsonPath& at);

// Optional fields: the default when absent or null, an error when present with the wrong type.
StatusOr<int64_t> GetIntOr(const nlohmann::json& obj, std::string_view key, const JsonPath& at,
                           int64_t fallback);
StatusOr<double> GetDoubleOr(const nlohmann::json& obj, std::string_view key, const JsonPath& at,
                             double fallback);
StatusOr<bool> GetBoolOr(const nlohmann::json& obj, std::string_view key, const JsonPath& at,
                         bool fallback);

// The first place where two JSON values differ, as "a.b.c: <a's value> vs <b's value>" (a
// missing key reads "(absent)"), or nullopt when they are equal. Objects are compared key by key
// in key order, arrays element by element.
std::optional<std::string> FirstDifference(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace omnisage

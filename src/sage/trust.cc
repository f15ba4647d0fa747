#include "sage/trust.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "io/file.h"
#include "io/file_system.h"
#include "util/json_fields.h"

namespace omnisage {

using nlohmann::json;

namespace {

constexpr const char* kTrustFormat = "omnisage-trust";
constexpr double kMiB = 1024.0 * 1024.0;

double Stability(const TrustRecord& r) {
  if (r.uses == 0) return 0.5;
  const double var = r.share_m2 / static_cast<double>(r.uses);
  if (var <= 0.0) return 1.0;  // a constant share (cv = 0)
  if (r.share_mean <= 0.0) return 0.0;
  const double cv2 = var / (r.share_mean * r.share_mean);
  return 1.0 / (1.0 + cv2);
}

}  // namespace

void TrustTable::Observe(uint64_t key, const ExpertContribution& c) {
  // The dot products run outside the lock: they read only the caller's buffers.
  double yy = 0.0, cc = 0.0, yc = 0.0;
  for (int64_t i = 0; i < c.hidden; ++i) {
    const double y = c.output[i], m = c.combined[i];
    yy += y * y;
    cc += m * m;
    yc += y * m;
  }
  if (!(cc > 0.0) || !std::isfinite(cc) || !std::isfinite(yy) || !std::isfinite(yc)) return;
  const double norm_c = std::sqrt(cc), norm_y = std::sqrt(yy);
  const double cos = norm_y > 0.0 ? std::clamp(yc / (norm_y * norm_c), -1.0, 1.0) : 0.0;
  const double agreement = (1.0 + cos) / 2.0;
  const double share = std::abs(static_cast<double>(c.weight)) * norm_y / norm_c;

  std::lock_guard<std::mutex> lock(mu_);
  TrustRecord& r = records_[key];
  r.convergence = r.uses == 0
                      ? agreement
                      : (1.0 - kConvergenceAlpha) * r.convergence + kConvergenceAlpha * agreement;
  ++r.uses;
  const double delta = share - r.share_mean;
  r.share_mean += delta / static_cast<double>(r.uses);
  r.share_m2 += delta * (share - r.share_mean);
  // A share only raises this record's raw efficiency, so the maximum stays exact.
  if (!max_dirty_ && r.loaded_mib > 0.0) {
    const double raw = RawEfficiency(r);
    if (raw > max_raw_) {
      max_raw_ = raw;
      max_key_ = key;
    }
  }
}

void TrustTable::OnLoad(uint64_t key, uint64_t bytes, double ms) {
  std::lock_guard<std::mutex> lock(mu_);
  TrustRecord& r = records_[key];
  ++r.loads;
  r.loaded_mib += static_cast<double>(bytes) / kMiB;
  r.load_ms += ms;
  if (max_dirty_) return;
  if (key == max_key_) {
    max_dirty_ = true;  // the maximum itself went down
  } else if (r.loaded_mib > 0.0 && RawEfficiency(r) > max_raw_) {
    max_raw_ = RawEfficiency(r);
    max_key_ = key;
  }
}

double TrustTable::RawEfficiency(const TrustRecord& r) {
  if (!(r.loaded_mib > 0.0)) return -1.0;
  return r.share_mean * static_cast<double>(r.uses) / r.loaded_mib;
}

double TrustTable::MaxRawEfficiencyLocked() const {
  if (max_dirty_) {
    max_raw_ = 0.0;
    max_key_ = 0;
    for (const auto& [key, r] : records_) {
      const double raw = RawEfficiency(r);
      if (raw > max_raw_) {
        max_raw_ = raw;
        max_key_ = key;
      }
    }
    max_dirty_ = false;
  }
  return max_raw_;
}

TrustRecord TrustTable::DerivedLocked(const TrustRecord& r) const {
  TrustRecord d = r;
  if (r.uses < kMinUses) {
    d.stability = d.efficiency = d.trust = 0.5;
    return d;
  }
  d.stability = Stability(r);
  const double raw = RawEfficiency(r);
  const double max = MaxRawEfficiencyLocked();
  d.efficiency = raw < 0.0 || !(max > 0.0) ? 0.5 : std::clamp(raw / max, 0.0, 1.0);
  d.trust = kTrustConvergenceWeight * d.convergence + kTrustStabilityWeight * d.stability +
            kTrustEfficiencyWeight * d.efficiency;
  return d;
}

TrustRecord TrustTable::Get(uint64_t key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(key);
  return it == records_.end() ? TrustRecord{} : DerivedLocked(it->second);
}

double TrustTable::Trust(uint64_t key) const { return Get(key).trust; }

void TrustTable::TrustOfLayer(Component component, int layer, int num_experts, double* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (int e = 0; e < num_experts; ++e) {
    auto it = records_.find(ExpertKey{component, layer, e}.Pack());
    out[e] = it == records_.end() ? 0.5 : DerivedLocked(it->second).trust;
  }
}

TrustView TrustTable::View(uint64_t key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end() || it->second.uses < kMinUses) return TrustView{};
  return TrustView{it->second.convergence, Stability(it->second)};
}

TrustLookup TrustTable::Lookup() const {
  return [this](uint64_t key) { return View(key); };
}

std::vector<uint64_t> TrustTable::hot_set() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hot_set_;
}

void TrustTable::set_hot_set(std::vector<uint64_t> keys) {
  std::lock_guard<std::mutex> lock(mu_);
  hot_set_ = std::move(keys);
}

size_t TrustTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_.size();
}

std::vector<std::pair<uint64_t, TrustRecord>> TrustTable::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return SnapshotLocked();
}

std::vector<std::pair<uint64_t, TrustRecord>> TrustTable::SnapshotLocked() const {
  std::vector<std::pair<uint64_t, TrustRecord>> out;
  out.reserve(records_.size());
  for (const auto& [key, r] : records_) out.emplace_back(key, DerivedLocked(r));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void TrustTable::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  records_.clear();
  hot_set_.clear();
  max_dirty_ = true;
}

namespace {

json KeyJson(uint64_t packed) {
  const ExpertKey k = ExpertKey::Unpack(packed);
  return json{{"component", ComponentName(k.component)}, {"layer", k.layer}, {"expert", k.expert}};
}

StatusOr<uint64_t> ParseKey(const json& obj, const JsonPath& at) {
  if (!obj.is_object()) return at.Error("expected a JSON object");
  OMNI_ASSIGN_OR_RETURN(std::string name, GetString(obj, "component", at));
  ExpertKey key;
  bool found = false;
  for (int i = 0; i < kNumComponents; ++i) {
    if (ComponentName(static_cast<Component>(i)) == name) {
      key.component = static_cast<Component>(i);
      found = true;
    }
  }
  if (!found) return at.Child("component").Error(fmt::format("unknown component '{}'", name));
  for (const char* field : {"layer", "expert"}) {
    OMNI_ASSIGN_OR_RETURN(int64_t v, GetInt(obj, field, at));
    if (v < 0 || v > 0xFFFFFF) {
      return at.Child(field).Error(fmt::format("{} is outside [0, {}]", v, 0xFFFFFF));
    }
    (std::string_view(field) == "layer" ? key.layer : key.expert) = static_cast<int32_t>(v);
  }
  return key.Pack();
}

StatusOr<uint64_t> GetCount(const json& obj, std::string_view key, const JsonPath& at) {
  OMNI_ASSIGN_OR_RETURN(int64_t v, GetInt(obj, key, at));
  if (v < 0) return at.Child(key).Error(fmt::format("{} is negative", v));
  return static_cast<uint64_t>(v);
}

// A number in [lo, hi] (hi may be infinity).
StatusOr<double> GetRanged(const json& obj, std::string_view key, const JsonPath& at, double lo,
                           double hi) {
  OMNI_ASSIGN_OR_RETURN(double v, GetDouble(obj, key, at));
  if (!(v >= lo && v <= hi)) {
    return at.Child(key).Error(std::isinf(hi) ? fmt::format("{} is below {}", v, lo)
                                              : fmt::format("{} is outside [{}, {}]", v, lo, hi));
  }
  return v;
}

}  // namespace

Status TrustTable::Save(const std::string& path) const {
  // One consistent picture of records and hot set.
  std::vector<std::pair<uint64_t, TrustRecord>> records;
  std::vector<uint64_t> hot_keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    records = SnapshotLocked();
    hot_keys = hot_set_;
  }
  json experts = json::array();
  for (const auto& [key, r] : records) {
    json e = KeyJson(key);
    e["uses"] = r.uses;
    e["convergence"] = r.convergence;
    e["share_mean"] = r.share_mean;
    e["share_m2"] = r.share_m2;
    e["loads"] = r.loads;
    e["loaded_mib"] = r.loaded_mib;
    e["load_ms"] = r.load_ms;
    e["routed"] = r.routed;
    e["mean_weight"] = r.mean_weight;
    // Derived, for readers; Load recomputes them.
    e["stability"] = r.stability;
    e["efficiency"] = r.efficiency;
    e["trust"] = r.trust;
    experts.push_back(std::move(e));
  }
  json hot = json::array();
  for (uint64_t key : hot_keys) hot.push_back(KeyJson(key));
  json root = {{"format", kTrustFormat},
               {"version", kTrustFileVersion},
               {"hot_set", std::move(hot)},
               {"experts", std::move(experts)}};
  return WriteFileAtomically(path, root.dump(1) + "\n");
}

Status TrustTable::Load(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  OMNI_ASSIGN_OR_RETURN(json root, ParseJson(text, path));
  const JsonPath at(path);
  if (!root.is_object()) return at.Error("expected a JSON object");
  OMNI_ASSIGN_OR_RETURN(std::string format, GetString(root, "format", at));
  if (format != kTrustFormat) {
    return at.Child("format").Error(fmt::format("'{}' is not '{}'", format, kTrustFormat));
  }
  OMNI_ASSIGN_OR_RETURN(int64_t version, GetInt(root, "version", at));
  if (version != kTrustFileVersion) {
    return at.Child("version").Error(fmt::format(
        "version {} is not supported (this build reads {})", version, kTrustFileVersion));
  }
  const auto array_at = [&](std::string_view key) -> StatusOr<const json*> {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) return at.Child(key).Error("missing");
    if (!it->is_array()) return at.Child(key).Error("expected an array");
    return &*it;
  };
  std::unordered_map<uint64_t, TrustRecord> records;
  OMNI_ASSIGN_OR_RETURN(const json* experts, array_at("experts"));
  const JsonPath experts_at = at.Child("experts");
  for (size_t i = 0; i < experts->size(); ++i) {
    const json& e = (*experts)[i];
    const JsonPath here = experts_at.Child(std::to_string(i));
    OMNI_ASSIGN_OR_RETURN(uint64_t key, ParseKey(e, here));
    TrustRecord r;
    constexpr double kInf = std::numeric_limits<double>::infinity();
    OMNI_ASSIGN_OR_RETURN(r.uses, GetCount(e, "uses", here));
    OMNI_ASSIGN_OR_RETURN(r.convergence, GetRanged(e, "convergence", here, 0.0, 1.0));
    OMNI_ASSIGN_OR_RETURN(r.share_mean, GetRanged(e, "share_mean", here, 0.0, kInf));
    OMNI_ASSIGN_OR_RETURN(r.share_m2, GetRanged(e, "share_m2", here, 0.0, kInf));
    OMNI_ASSIGN_OR_RETURN(r.loads, GetCount(e, "loads", here));
    OMNI_ASSIGN_OR_RETURN(r.loaded_mib, GetRanged(e, "loaded_mib", here, 0.0, kInf));
    OMNI_ASSIGN_OR_RETURN(r.load_ms, GetRanged(e, "load_ms", here, 0.0, kInf));
    OMNI_ASSIGN_OR_RETURN(r.routed, GetRanged(e, "routed", here, 0.0, kInf));
    OMNI_ASSIGN_OR_RETURN(r.mean_weight, GetRanged(e, "mean_weight", here, 0.0, kInf));
    if (!records.emplace(key, r).second) {
      return here.Error(fmt::format("a second record for {} layer {} expert {}",
                                    ComponentName(ExpertKey::Unpack(key).component),
                                    ExpertKey::Unpack(key).layer, ExpertKey::Unpack(key).expert));
    }
  }
  std::vector<uint64_t> hot;
  OMNI_ASSIGN_OR_RETURN(const json* hot_json, array_at("hot_set"));
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < hot_json->size(); ++i) {
    const JsonPath here = at.Child("hot_set").Child(std::to_string(i));
    OMNI_ASSIGN_OR_RETURN(uint64_t key, ParseKey((*hot_json)[i], here));
    if (!seen.insert(key).second) return here.Error("listed twice");
    hot.push_back(key);
  }
  std::lock_guard<std::mutex> lock(mu_);
  records_ = std::move(records);
  hot_set_ = std::move(hot);
  max_dirty_ = true;
  return Status::Ok();
}

}  // namespace omnisage

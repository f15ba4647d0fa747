// TrustTable's persistence: the trust file's format (docs/sage.md), Load, and Save's locked
// three-way merge with what other processes saved meanwhile.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <unordered_set>

#include "io/file.h"
#include "io/file_lock.h"
#include "io/file_system.h"
#include "sage/trust.h"
#include "util/json_fields.h"

namespace omnisage {

using nlohmann::json;

namespace {

constexpr const char* kTrustFormat = "omnisage-trust";

using Records = std::unordered_map<uint64_t, TrustRecord>;

struct TrustFile {
  Records records;
  std::vector<uint64_t> hot_set;
};

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

// Reads one saved field per TrustRecord::ForEachSaved; keeps the first error.
class FieldReader {
 public:
  FieldReader(const json& obj, const JsonPath& at) : obj_(obj), at_(at) {}
  void operator()(uint64_t& field, std::string_view name, double, double) {
    if (!status_.ok()) return;
    auto v = GetInt(obj_, name, at_);
    if (!v.ok()) {
      status_ = v.status();
    } else if (*v < 0) {
      status_ = at_.Child(name).Error(fmt::format("{} is negative", *v));
    } else {
      field = static_cast<uint64_t>(*v);
    }
  }
  void operator()(double& field, std::string_view name, double lo, double hi) {
    if (!status_.ok()) return;
    auto v = GetDouble(obj_, name, at_);
    if (!v.ok()) {
      status_ = v.status();
    } else if (!(*v >= lo && *v <= hi)) {
      status_ =
          at_.Child(name).Error(std::isinf(hi) ? fmt::format("{} is below {}", *v, lo)
                                               : fmt::format("{} is outside [{}, {}]", *v, lo, hi));
    } else {
      field = *v;
    }
  }
  const Status& status() const { return status_; }

 private:
  const json& obj_;
  const JsonPath& at_;
  Status status_;
};

StatusOr<TrustFile> ParseTrustFile(std::string_view text, const std::string& path) {
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
  TrustFile file;
  OMNI_ASSIGN_OR_RETURN(const json* experts, array_at("experts"));
  const JsonPath experts_at = at.Child("experts");
  for (size_t i = 0; i < experts->size(); ++i) {
    const json& e = (*experts)[i];
    const JsonPath here = experts_at.Child(std::to_string(i));
    OMNI_ASSIGN_OR_RETURN(uint64_t key, ParseKey(e, here));
    TrustRecord r;
    FieldReader read(e, here);
    TrustRecord::ForEachSaved(r, read);
    OMNI_RETURN_IF_ERROR(read.status());
    if (!file.records.emplace(key, r).second) {
      const ExpertKey k = ExpertKey::Unpack(key);
      return here.Error(fmt::format("a second record for {} layer {} expert {}",
                                    ComponentName(k.component), k.layer, k.expert));
    }
  }
  OMNI_ASSIGN_OR_RETURN(const json* hot_json, array_at("hot_set"));
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < hot_json->size(); ++i) {
    const JsonPath here = at.Child("hot_set").Child(std::to_string(i));
    OMNI_ASSIGN_OR_RETURN(uint64_t key, ParseKey((*hot_json)[i], here));
    if (!seen.insert(key).second) return here.Error("listed twice");
    file.hot_set.push_back(key);
  }
  return file;
}

// A trust file that cannot be read blocks every run that uses it; say what to do.
Status WithRemedy(const Status& s, const std::string& path) {
  return Status(s.code(),
                fmt::format("{}; the trust file {} cannot be used: delete it (the next run starts "
                            "from neutral trust and writes a new one), then re-run omnisage dream "
                            "on your traces to rebuild its hot set",
                            s.message(), path));
}

StatusOr<TrustFile> ReadTrustFile(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto file = ParseTrustFile(text, path);
  if (!file.ok()) return WithRemedy(file.status(), path);
  return file;
}

// --- Save's three-way merge: `disk` is the file now, `base` what this table last read or wrote
// there, `mine` the table now. Each group of fields takes the side that changed; where both did,
// they are combined.

bool SameUses(const TrustRecord& a, const TrustRecord& b) {
  return a.uses == b.uses && a.convergence == b.convergence && a.share_mean == b.share_mean &&
         a.share_m2 == b.share_m2;
}
bool SameLoads(const TrustRecord& a, const TrustRecord& b) {
  return a.loads == b.loads && a.loaded_mib == b.loaded_mib && a.load_ms == b.load_ms;
}
bool SameDream(const TrustRecord& a, const TrustRecord& b) {
  return a.routed == b.routed && a.mean_weight == b.mean_weight;
}

// disk's uses followed by mine's uses since base.
void CombineUses(const TrustRecord& disk, const TrustRecord& base, const TrustRecord& mine,
                 TrustRecord* out) {
  const double nb = static_cast<double>(base.uses), nm = static_cast<double>(mine.uses);
  const double nd = static_cast<double>(disk.uses), n2 = nm - nb;
  // Welford: the statistics of mine's new shares alone, then Chan's parallel combination.
  const double mean2 = (mine.share_mean * nm - base.share_mean * nb) / n2;
  const double d0 = mean2 - base.share_mean;
  const double m2_2 = std::max(0.0, mine.share_m2 - base.share_m2 - d0 * d0 * nb * n2 / nm);
  const double n = nd + n2, delta = mean2 - disk.share_mean;
  out->uses = disk.uses + (mine.uses - base.uses);
  out->share_mean = std::max(0.0, disk.share_mean + delta * n2 / n);
  out->share_m2 = std::max(0.0, disk.share_m2 + m2_2 + delta * delta * nd * n2 / n);
  // The EMA is linear in its starting value: mine's uses moved base's value by a known decay.
  const double decay = std::pow(1.0 - kConvergenceAlpha, n2);
  double c;
  if (disk.uses == 0) {
    c = mine.convergence;
  } else if (base.uses == 0) {  // mine's first use set the value: blend by the same decay
    c = decay * disk.convergence + (1.0 - decay) * mine.convergence;
  } else {
    c = decay * disk.convergence + (mine.convergence - decay * base.convergence);
  }
  out->convergence = std::clamp(c, 0.0, 1.0);
}

TrustRecord MergeRecord(const TrustRecord& disk, const TrustRecord& base, const TrustRecord& mine) {
  TrustRecord out = mine;
  if (SameUses(mine, base) || mine.uses < base.uses) {
    if (SameUses(mine, base)) {
      out.uses = disk.uses;
      out.convergence = disk.convergence;
      out.share_mean = disk.share_mean;
      out.share_m2 = disk.share_m2;
    }
  } else if (!SameUses(disk, base)) {
    CombineUses(disk, base, mine, &out);
  }
  if (SameLoads(mine, base)) {
    out.loads = disk.loads;
    out.loaded_mib = disk.loaded_mib;
    out.load_ms = disk.load_ms;
  } else if (!SameLoads(disk, base) && mine.loads >= base.loads) {
    out.loads = disk.loads + (mine.loads - base.loads);
    out.loaded_mib = std::max(0.0, disk.loaded_mib + (mine.loaded_mib - base.loaded_mib));
    out.load_ms = std::max(0.0, disk.load_ms + (mine.load_ms - base.load_ms));
  }
  if (SameDream(mine, base)) {
    out.routed = disk.routed;
    out.mean_weight = disk.mean_weight;
  }
  return out;
}

Records Merge(const Records& disk, const Records& base, const Records& mine) {
  static const TrustRecord kAbsent;
  const auto get = [](const Records& m, uint64_t key) -> const TrustRecord& {
    auto it = m.find(key);
    return it == m.end() ? kAbsent : it->second;
  };
  Records out;
  for (const Records* side : {&disk, &mine}) {
    for (const auto& [key, unused] : *side) {
      if (out.count(key) != 0) continue;
      out.emplace(key, MergeRecord(get(disk, key), get(base, key), get(mine, key)));
    }
  }
  return out;
}

std::string TrustFileText(const std::vector<std::pair<uint64_t, TrustRecord>>& records,
                          const std::vector<uint64_t>& hot_keys) {
  json experts = json::array();
  for (const auto& [key, r] : records) {
    json e = KeyJson(key);
    TrustRecord::ForEachSaved(r, [&](const auto& field, std::string_view name, double, double) {
      e[std::string(name)] = field;
    });
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
  return root.dump(1) + "\n";
}

}  // namespace

Status TrustTable::Save(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                        FileLock::Acquire(path + ".lock", FileLock::Mode::kWait));
  TrustFile disk;
  if (FileExists(path)) {
    OMNI_ASSIGN_OR_RETURN(disk, ReadTrustFile(path));
  }
  Records mine, base;
  std::vector<uint64_t> mine_hot, base_hot;
  {
    std::lock_guard<std::mutex> l(mu_);
    mine = records_;
    base = saved_records_;
    mine_hot = hot_set_;
    base_hot = saved_hot_set_;
  }
  TrustFile merged{Merge(disk.records, base, mine), mine_hot == base_hot ? disk.hot_set : mine_hot};
  OMNI_RETURN_IF_ERROR(
      WriteFileAtomically(path, TrustFileText(SnapshotOf(merged.records), merged.hot_set)));
  std::lock_guard<std::mutex> l(mu_);
  // Changes made while the file was written (loads from I/O threads) go on top of the merge.
  records_ = Merge(merged.records, mine, records_);
  if (hot_set_ == mine_hot) hot_set_ = merged.hot_set;
  saved_records_ = std::move(merged.records);
  saved_hot_set_ = std::move(merged.hot_set);
  max_dirty_ = true;
  return Status::Ok();
}

Status TrustTable::Load(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(TrustFile file, ReadTrustFile(path));
  std::lock_guard<std::mutex> lock(mu_);
  records_ = file.records;
  hot_set_ = file.hot_set;
  saved_records_ = std::move(file.records);
  saved_hot_set_ = std::move(file.hot_set);
  max_dirty_ = true;
  return Status::Ok();
}

}  // namespace omnisage

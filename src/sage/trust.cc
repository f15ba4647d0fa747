#include "sage/trust.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace omnisage {

namespace {

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
  return Derived(r, r.uses < kMinUses ? 0.0 : MaxRawEfficiencyLocked());
}

TrustRecord TrustTable::Derived(const TrustRecord& r, double max_raw) {
  TrustRecord d = r;
  if (r.uses < kMinUses) {
    d.stability = d.efficiency = d.trust = 0.5;
    return d;
  }
  d.stability = Stability(r);
  const double raw = RawEfficiency(r);
  d.efficiency = raw < 0.0 || !(max_raw > 0.0) ? 0.5 : std::clamp(raw / max_raw, 0.0, 1.0);
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

std::vector<std::pair<uint64_t, TrustRecord>> TrustTable::SnapshotOf(
    const std::unordered_map<uint64_t, TrustRecord>& records) {
  double max_raw = 0.0;
  for (const auto& [key, r] : records) max_raw = std::max(max_raw, RawEfficiency(r));
  std::vector<std::pair<uint64_t, TrustRecord>> out;
  out.reserve(records.size());
  for (const auto& [key, r] : records) out.emplace_back(key, Derived(r, max_raw));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void TrustTable::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  records_.clear();
  hot_set_.clear();
  max_dirty_ = true;
}

std::string DescribeForeignTrustKeys(const TrustTable& table, Component component,
                                     const DecoderConfig& config, const std::string& file) {
  const auto foreign = [&](uint64_t key) {
    const ExpertKey k = ExpertKey::Unpack(key);
    return k.component != component || k.layer >= config.num_layers ||
           !config.IsMoeLayer(k.layer) || k.expert >= config.num_experts;
  };
  std::vector<uint64_t> keys;
  for (const auto& [key, r] : table.Snapshot()) {
    if (foreign(key)) keys.push_back(key);
  }
  size_t hot = 0;
  for (uint64_t key : table.hot_set()) hot += foreign(key) ? 1 : 0;
  if (keys.empty() && hot == 0) return "";
  std::string examples;
  for (size_t i = 0; i < std::min<size_t>(keys.size(), 4); ++i) {
    const ExpertKey k = ExpertKey::Unpack(keys[i]);
    examples += fmt::format("{}{} layer {} expert {}", i > 0 ? ", " : "",
                            ComponentName(k.component), k.layer, k.expert);
  }
  return fmt::format(
      "{}: {} trust record(s){} and {} hot-set expert(s) name experts this model does not have "
      "({} has {} layers of {} experts); they are not used (a trust file of another model? "
      "give this model its own with --trust-file)",
      file, keys.size(),
      examples.empty() ? "" : " (" + examples + (keys.size() > 4 ? ", ..." : "") + ")", hot,
      ComponentName(component), config.num_layers, config.num_experts);
}

}  // namespace omnisage

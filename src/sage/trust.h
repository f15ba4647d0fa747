// TrustTable: what SAGE has learned about each routed expert, keyed by packed ExpertKey
// (experts/expert_key.h). Definitions, as implemented (docs/sage.md has the derivations):
//
//   convergence  EMA (alpha kConvergenceAlpha = 0.05; the first use sets it) of (1 + cos) / 2,
//                where cos is the cosine similarity between the expert's own output y_e and the
//                layer's combined MoE output Σ w·y for the same token. 1: the expert points where
//                the layer goes; 0: it points the opposite way.
//   stability    1 / (1 + cv²), cv = the coefficient of variation (population standard deviation
//                over mean, Welford online) of the expert's contribution share
//                s = w · ‖y_e‖ / ‖Σ w·y‖. 1: a constant share; → 0 as the share varies.
//   efficiency   Σ s / MiB loaded (the shares summed over all uses, per MiB the loader read for
//                this expert: OnLoad), divided by the largest such value in the table, so in
//                [0, 1]. An expert with no load reported reads 0.5 (neutral).
//   trust        0.4 · convergence + 0.4 · stability + 0.2 · efficiency.
//
// A record with fewer than kMinUses (2) observed uses reads as neutral: trust 0.5 and
// TrustView {0.5, 0.5}; an absent record reads the same. Observations whose combined output is
// the zero vector carry no direction and are ignored; a zero y_e counts as cos = 0, s = 0.
//
// DREAM consolidation (sage/dream.h) keeps two further counters per record: `routed`, a decayed
// count of routing decisions that chose the expert, and `mean_weight`, its mean mixing weight in
// them; and the table's hot set, the experts to keep resident.
//
// Persistence (trust_file.cc; format in docs/sage.md): Load replaces the table with a file's
// contents, or leaves it untouched and returns an error naming the file, the field and the remedy
// ("trust.json: experts.3.convergence: 1.5 is outside [0, 1]; delete it ..."). Save writes JSON
// atomically under a unique temporary name, holding an exclusive lock (<file>.lock) so that saves
// of one file by several processes take turns, and merges rather than overwrites: what the file
// holds now is combined with this table's changes since it last read or wrote the file (a
// three-way merge per record: counts and sums add up, the share statistics combine as Welford's
// parallel form, the convergence EMA applies this table's uses after the file's, DREAM's fields
// and the hot set take the side that changed). So two runs saving the same trust file lose
// neither's observations; a single writer's file equals its table exactly.
//
// Thread-safe: every method takes the table's mutex. Observe is called from the forward thread,
// View (through Lookup) from the expert cache under its lock; the table never calls out while
// holding its mutex, so the two locks cannot deadlock.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "experts/eviction_policy.h"
#include "experts/expert_key.h"
#include "model/config.h"
#include "model/expert_selector.h"
#include "util/status.h"

namespace omnisage {

inline constexpr double kConvergenceAlpha = 0.05;
inline constexpr uint64_t kMinUses = 2;
inline constexpr double kTrustConvergenceWeight = 0.4;
inline constexpr double kTrustStabilityWeight = 0.4;
inline constexpr double kTrustEfficiencyWeight = 0.2;
inline constexpr int kTrustFileVersion = 1;

struct TrustRecord {
  // Accumulated (saved and loaded).
  uint64_t uses = 0;         // observed contributions (Observe calls that counted)
  double convergence = 0.5;  // EMA of (1 + cos) / 2; meaningful once uses ≥ 1
  double share_mean = 0.0;   // Welford: mean of s
  double share_m2 = 0.0;     // Welford: Σ (s − mean)²
  uint64_t loads = 0;        // OnLoad calls
  double loaded_mib = 0.0;   // Σ bytes / 2^20 over loads
  double load_ms = 0.0;      // Σ milliseconds over loads
  double routed = 0.0;       // DREAM: decayed count of routing decisions choosing the expert
  double mean_weight = 0.0;  // DREAM: mean mixing weight over those decisions
  // Derived, filled by TrustTable::Get (the neutral values when uses < kMinUses).
  double stability = 0.5;
  double efficiency = 0.5;
  double trust = 0.5;

  // The accumulated fields, each listed once with its name in the trust file and its valid range:
  // what Save writes and Load reads. Calls v(field, name, lo, hi) for a uint64_t count (range
  // unused) or a double in [lo, hi] (hi may be infinity). `R` is TrustRecord or const TrustRecord.
  template <typename R, typename V>
  static void ForEachSaved(R& r, V&& v) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    v(r.uses, "uses", 0.0, kInf);
    v(r.convergence, "convergence", 0.0, 1.0);
    v(r.share_mean, "share_mean", 0.0, kInf);
    v(r.share_m2, "share_m2", 0.0, kInf);
    v(r.loads, "loads", 0.0, kInf);
    v(r.loaded_mib, "loaded_mib", 0.0, kInf);
    v(r.load_ms, "load_ms", 0.0, kInf);
    v(r.routed, "routed", 0.0, kInf);
    v(r.mean_weight, "mean_weight", 0.0, kInf);
  }
};

class TrustTable {
 public:
  TrustTable() = default;
  TrustTable(const TrustTable&) = delete;
  TrustTable& operator=(const TrustTable&) = delete;

  // One chosen expert's contribution to one token (the decoder's contribution observer).
  void Observe(uint64_t key, const ExpertContribution& c);
  void Observe(const ExpertKey& key, const ExpertContribution& c) { Observe(key.Pack(), c); }
  // Key from the contribution's own layer and expert.
  void Observe(Component component, const ExpertContribution& c) {
    Observe(ExpertKey{component, c.layer, c.expert}, c);
  }
  // The loader read `bytes` of this expert in `ms` milliseconds.
  void OnLoad(uint64_t key, uint64_t bytes, double ms);

  // The record with its derived fields; a default (neutral) record when there is none.
  TrustRecord Get(uint64_t key) const;
  double Trust(uint64_t key) const;
  // trust of experts 0 .. num_experts − 1 of one layer into out[num_experts] (one lock).
  void TrustOfLayer(Component component, int layer, int num_experts, double* out) const;
  TrustView View(uint64_t key) const;
  // For NewTrustPolicy: calls View. The table must outlive the returned function.
  TrustLookup Lookup() const;

  // Experts DREAM chose to keep resident (packed keys, best first).
  std::vector<uint64_t> hot_set() const;
  void set_hot_set(std::vector<uint64_t> keys);

  size_t size() const;
  // Every record with its derived fields, ascending by key.
  std::vector<std::pair<uint64_t, TrustRecord>> Snapshot() const;
  void Clear();

  // Applies `fn(key, record&)` to every record under the lock (DREAM's consolidation); `fn`
  // must not call back into the table. Derived fields passed in are stale; only accumulated
  // fields are kept.
  template <typename Fn>
  void Mutate(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, r] : records_) fn(key, r);
    max_dirty_ = true;
  }
  // The record for `key` (created when absent), mutated under the lock.
  template <typename Fn>
  void MutateOne(uint64_t key, Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    fn(records_[key]);
    max_dirty_ = true;
  }

  // Merges this table into the file (see "Persistence" above) and takes the merged records and
  // hot set as its own; on error neither the file nor the table changes. Blocks while another
  // process saves the same file.
  Status Save(const std::string& path);
  // Replaces the table (records and hot set) with the file's; on error the table is unchanged.
  Status Load(const std::string& path);

 private:
  // Efficiency before normalisation: Σ s / MiB loaded; negative when nothing was loaded.
  static double RawEfficiency(const TrustRecord& r);
  double MaxRawEfficiencyLocked() const;
  TrustRecord DerivedLocked(const TrustRecord& r) const;
  // `r` with its derived fields, efficiency normalised by `max_raw`.
  static TrustRecord Derived(const TrustRecord& r, double max_raw);
  std::vector<std::pair<uint64_t, TrustRecord>> SnapshotLocked() const;
  // Every record of `records` with its derived fields, ascending by key.
  static std::vector<std::pair<uint64_t, TrustRecord>> SnapshotOf(
      const std::unordered_map<uint64_t, TrustRecord>& records);

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, TrustRecord> records_;
  std::vector<uint64_t> hot_set_;
  // What the trust file held when this table last read or wrote it: the base of Save's merge.
  std::unordered_map<uint64_t, TrustRecord> saved_records_;
  std::vector<uint64_t> saved_hot_set_;
  // The largest raw efficiency, kept up to date as shares only raise it; a load lowers the
  // loaded expert's value, so a load of the current maximum (or a Load, or DREAM) marks it dirty
  // and the next read recomputes it over the table.
  mutable double max_raw_ = 0.0;
  mutable uint64_t max_key_ = 0;
  mutable bool max_dirty_ = true;
};

// A warning naming the records and hot-set keys of `table` that are no routed expert of
// `config`'s `component` stack (another component, a layer past the stack or without experts, an
// expert past num_experts): a trust file of another model. They are kept in the file and never
// used. "" when there are none. `file` names the trust file in the message.
std::string DescribeForeignTrustKeys(const TrustTable& table, Component component,
                                     const DecoderConfig& config, const std::string& file);

}  // namespace omnisage

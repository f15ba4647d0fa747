// CachedExperts: the ExpertProvider that runs a model under a hard budget for expert memory.
// Every routed expert comes through one ExpertCache; a miss reads the expert's three tensors
// (gate, up, down) with pread straight into a cache buffer — from an expert store or from the
// original shards alike, never through a mapping, so the page cache never counts as the
// process's memory. Loads run on I/O threads: a layer's experts are expected a window ahead of
// their use (so the window's loads overlap each other and the computation), and during decode
// the decoder names the next layer's likely experts, which are prefetched into the cache.
//
// Statistics per layer: hits, misses, prefetch hits, bytes read, time stalled, evictions and how
// often the next-layer prediction was right (docs/expert-cache.md defines each).
//
// Errors follow the engine's one rule (docs/expert-cache.md, "Errors"): a failure that would
// change or cut short the answer reaches the caller — Acquire returns the read error of an
// expert the forward pass needs, and the pass stops. A failure that leaves the answer intact is
// counted and listed by Warnings() for the run's report: a prefetch whose read failed (the
// expert is read again, on demand, if it is used), a hot-set expert that could not be pinned.
// Nothing is dropped silently.
//
// Thread-safety: the ExpertProvider methods come from the one forward-pass thread (the
// provider's contract); stats, Warnings() and the cache may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "experts/eviction_policy.h"
#include "experts/expert_cache.h"
#include "experts/expert_key.h"
#include "io/weight_source.h"
#include "model/config.h"
#include "model/expert_provider.h"
#include "util/mutex.h"
#include "util/options.h"
#include "util/task_queue.h"

namespace omnisage {

// The most expert-loading threads (--io-threads): far more than any disk keeps busy.
inline constexpr int kMaxIoThreads = 256;

struct CacheOptions {
  uint64_t budget_bytes = 0;     // hard cap on resident expert bytes
  std::string policy = "cycle";  // the best measured (docs/expert-cache.md)
  TrustLookup trust = nullptr;   // for the trust-weighted policy (null: neutral)
  int io_threads = 2;
  bool prefetch = true;  // next-layer prediction (decode)
  // Check each expert read from an expert store against the manifest's XXH3 of its file; a
  // mismatch is the read's error (docs/expert-cache.md gives its measured cost). Also applies
  // when there is no budget and every expert is loaded at start.
  bool verify_checksums = true;
  // Called after each successful read (from an I/O thread): key, bytes, milliseconds.
  std::function<void(uint64_t key, uint64_t bytes, double ms)> on_load = nullptr;

  // The options a user sets (util/options.h); the budget, trust and on_load come from the engine.
  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(policy, {.name = "policy",
               .help = "Expert cache eviction policy: lru, lfu, cycle or trust",
               .choices = &EvictionPolicyNames()});
    v(io_threads,
      {.name = "io-threads", .help = "Threads loading experts", .min = 1, .max = kMaxIoThreads});
    v(prefetch, {.name = "no-prefetch",
                 .help = "Do not predict and prefetch the next layer's experts during decode"});
    v(verify_checksums,
      {.name = "no-verify-checksums",
       .help = "Do not check each expert read from an expert store against its checksum"});
  }
};

struct ExpertCacheStats {
  uint64_t accesses = 0;       // experts a layer pass used (each once per pass)
  uint64_t hits = 0;           // of those, already in memory or on the way when asked for
  uint64_t prefetch_hits = 0;  // of the hits, brought in by the prefetcher and not used before
  uint64_t misses = 0;         // loaded on demand
  uint64_t loads = 0;          // expert reads from disk, demand and prefetch
  uint64_t bytes_read = 0;
  double load_seconds = 0;         // summed over I/O threads
  double stall_seconds = 0;        // the forward thread waiting for experts
  uint64_t prefetches = 0;         // speculative loads started
  uint64_t prefetch_wasted = 0;    // of those, evicted before any use
  uint64_t prefetch_failed = 0;    // of those, whose read failed (a warning; see Warnings())
  uint64_t predicted_uses = 0;     // uses in layer passes that had a prediction
  uint64_t predicted_correct = 0;  // of those, experts the prediction named
  uint64_t evictions = 0;

  double hit_rate() const { return accesses ? static_cast<double>(hits) / accesses : 0; }
  double prediction_accuracy() const {
    return predicted_uses ? static_cast<double>(predicted_correct) / predicted_uses : 0;
  }
  void Add(const ExpertCacheStats& o);
  // The counts between two snapshots: this minus `earlier`, field by field.
  ExpertCacheStats Since(const ExpertCacheStats& earlier) const;

 private:
  // Applies op(mine, theirs) to every counter, so Add and Since cannot miss one.
  template <typename Op>
  void Combine(const ExpertCacheStats& o, Op op);
};

class CachedExperts final : public ExpertProvider {
 public:
  // Bytes of one routed expert (gate + up + down, in the stack's expert format: ExpertBufferOf) of
  // this stack.
  static uint64_t ExpertBytes(const DecoderConfig& c);
  // Bytes of all routed experts of this stack.
  static uint64_t TotalExpertBytes(const DecoderConfig& c);
  // The smallest budget that runs: one token's k experts of one layer.
  static uint64_t MinimumBudget(const DecoderConfig& c);

  // Errors: a budget below MinimumBudget (the message names the minimum), an option out of its
  // range (an unknown policy, too many I/O threads), an I/O thread that cannot be started.
  static StatusOr<std::unique_ptr<CachedExperts>> Create(const WeightSource& source,
                                                         const std::string& stack_prefix,
                                                         Component component,
                                                         const DecoderConfig& config,
                                                         const CacheOptions& options);
  // A provider for another MoE stack of the same model (the talker beside the thinker) that uses
  // `owner`'s cache: one budget and one eviction order for both stacks, statistics and warnings
  // per stack (each provider's own). Expert keys carry the component, so the stacks never share
  // an entry. The options are the owner's. Errors: the budget is below this stack's
  // MinimumBudget. REQUIRES: `owner` outlives the result; both run on the one forward thread.
  static StatusOr<std::unique_ptr<CachedExperts>> CreateSharing(const WeightSource& source,
                                                                const std::string& stack_prefix,
                                                                Component component,
                                                                const DecoderConfig& config,
                                                                CachedExperts* owner);
  ~CachedExperts() override;

  StatusOr<ExpertWeights> Acquire(int layer, int expert) override;
  void Release(int layer, int expert) override;
  void Expect(int layer, int expert) override;
  void Prefetch(int layer, const int32_t* experts, int n) override;
  int max_held() const override;
  bool IsResident(int layer, int expert) const override;

  // Per MoE layer (index = layer; dense layers stay zero) and in total.
  std::vector<ExpertCacheStats> layer_stats() const;
  ExpertCacheStats total_stats() const;
  void ResetStats();
  ExpertCache& cache() { return *cache_; }
  const CacheOptions& options() const { return options_; }
  uint64_t expert_bytes() const { return expert_bytes_; }
  uint64_t total_expert_bytes() const { return total_bytes_; }
  // Loads and pins `keys` (this stack's, in order) for the provider's lifetime, while their bytes
  // stay within `max_bytes`; returns the bytes pinned. The window shrinks to what remains. Keys
  // of another stack or out of range, and experts that cannot be read, are skipped and listed
  // by Warnings().
  uint64_t PinHotSet(const std::vector<uint64_t>& keys, uint64_t max_bytes);
  // What went wrong without changing the answer (failed prefetches, hot-set experts not
  // pinned), one line each, for the run's report; empty when nothing did.
  std::vector<std::string> Warnings() const;
  // Waits for every load in flight (prefetches included) to finish.
  void Drain() { io_->Drain(); }

 private:
  CachedExperts() = default;
  // Fills a provider for one stack over `cache` (the caller sets the eviction listener).
  static std::unique_ptr<CachedExperts> New(const WeightSource& source,
                                            const std::string& stack_prefix, Component component,
                                            const DecoderConfig& config,
                                            const CacheOptions& options,
                                            std::shared_ptr<ExpertCache> cache);
  // Counts an eviction of `key` (this stack's, or a sharing provider's) in its owner's stats.
  void OnEviction(uint64_t key, bool unused) OMNI_EXCLUDES(mu_);
  uint64_t Key(int layer, int expert) const { return ExpertKey{component_, layer, expert}.Pack(); }
  // Reads the expert into the entry and publishes it; returns the read's status. Runs on an I/O
  // thread (demand loads and prefetches) or on the caller's (PinHotSet).
  Status Load(int layer, int expert, ExpertCache::Handle* h);

  struct Held {
    ExpertCache::Handle* handle = nullptr;
    Status status;  // why there is no handle
  };

  const WeightSource* source_ = nullptr;
  Component component_ = Component::kThinker;
  DecoderConfig config_;
  CacheOptions options_;
  std::vector<DecoderLayerNames> names_;
  uint64_t expert_bytes_ = 0, total_bytes_ = 0;
  int max_held_ = 1;
  std::shared_ptr<ExpertCache> cache_;       // shared with sharing providers
  CachedExperts* owner_ = nullptr;           // the provider whose cache this one shares, or null
  std::unordered_map<uint64_t, Held> held_;  // forward thread only
  std::vector<ExpertCache::Handle*> hot_;    // pinned for the provider's lifetime

  // Next-layer prediction: forward thread only.
  std::vector<std::vector<int32_t>> predicted_;  // [layer], empty: none pending
  std::vector<int32_t> current_prediction_;      // for the layer pass under way
  int current_layer_ = -1;

  mutable Mutex mu_;
  std::vector<ExpertCacheStats> stats_ OMNI_GUARDED_BY(mu_);  // [layer]
  Status first_prefetch_error_ OMNI_GUARDED_BY(mu_);
  std::vector<std::string> hot_set_warnings_ OMNI_GUARDED_BY(mu_);
  std::vector<CachedExperts*> sharers_ OMNI_GUARDED_BY(mu_);  // providers using this cache
  std::unique_ptr<TaskQueue> io_;                             // last: destroyed (drained) first
};

}  // namespace omnisage

#include "experts/cached_experts.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "util/elapsed.h"
#include "util/units.h"

namespace omnisage {
template <typename Op>
void ExpertCacheStats::Combine(const ExpertCacheStats& o, Op op) {
  op(accesses, o.accesses);
  op(hits, o.hits);
  op(prefetch_hits, o.prefetch_hits);
  op(misses, o.misses);
  op(loads, o.loads);
  op(bytes_read, o.bytes_read);
  op(load_seconds, o.load_seconds);
  op(stall_seconds, o.stall_seconds);
  op(prefetches, o.prefetches);
  op(prefetch_wasted, o.prefetch_wasted);
  op(prefetch_failed, o.prefetch_failed);
  op(predicted_uses, o.predicted_uses);
  op(predicted_correct, o.predicted_correct);
  op(evictions, o.evictions);
}

void ExpertCacheStats::Add(const ExpertCacheStats& o) {
  Combine(o, [](auto& mine, auto theirs) { mine += theirs; });
}

ExpertCacheStats ExpertCacheStats::Since(const ExpertCacheStats& earlier) const {
  ExpertCacheStats d = *this;
  d.Combine(earlier, [](auto& mine, auto theirs) { mine -= theirs; });
  return d;
}

uint64_t CachedExperts::ExpertBytes(const DecoderConfig& c) { return ExpertBufferOf(c).total; }

uint64_t CachedExperts::TotalExpertBytes(const DecoderConfig& c) {
  uint64_t moe_layers = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) moe_layers += c.IsMoeLayer(l) ? 1 : 0;
  return moe_layers * static_cast<uint64_t>(c.num_experts) * ExpertBytes(c);
}

uint64_t CachedExperts::MinimumBudget(const DecoderConfig& c) {
  return static_cast<uint64_t>(c.num_experts_per_tok) * ExpertBytes(c);
}

StatusOr<std::unique_ptr<CachedExperts>> CachedExperts::Create(const WeightSource& source,
                                                               const std::string& stack_prefix,
                                                               Component component,
                                                               const DecoderConfig& config,
                                                               const CacheOptions& options) {
  OMNI_RETURN_IF_ERROR(ValidateOptions(options));
  const uint64_t minimum = MinimumBudget(config);
  if (options.budget_bytes < minimum) {
    return ResourceExhausted(fmt::format(
        "--budget {} is below the minimum of {} ({} bytes): one token needs {} experts of "
        "{} at once in a layer",
        FormatBytes(options.budget_bytes), FormatBytes(minimum), minimum,
        config.num_experts_per_tok, FormatBytes(ExpertBytes(config))));
  }
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> policy,
                        NewEvictionPolicy(options.policy, options.trust));
  auto cache = std::make_shared<ExpertCache>(options.budget_bytes, std::move(policy));
  std::unique_ptr<CachedExperts> p =
      New(source, stack_prefix, component, config, options, std::move(cache));
  CachedExperts* self = p.get();
  // Under the cache's lock; OnEviction takes only mu_s (never held while calling into the cache).
  p->cache_->set_eviction_listener(
      [self](uint64_t key, bool unused) { self->OnEviction(key, unused); });
  OMNI_ASSIGN_OR_RETURN(p->io_, TaskQueue::Create(options.io_threads));
  return p;
}

StatusOr<std::unique_ptr<CachedExperts>> CachedExperts::CreateSharing(
    const WeightSource& source, const std::string& stack_prefix, Component component,
    const DecoderConfig& config, CachedExperts* owner) {
  const uint64_t minimum = MinimumBudget(config);
  if (owner->options_.budget_bytes < minimum) {
    return ResourceExhausted(fmt::format(
        "--budget {} is below the minimum of {} for the {} ({} experts of {} at once)",
        FormatBytes(owner->options_.budget_bytes), FormatBytes(minimum), ComponentName(component),
        config.num_experts_per_tok, FormatBytes(ExpertBytes(config))));
  }
  CacheOptions options = owner->options_;
  options.on_load = nullptr;  // SAGE's load reports are about the owner's stack
  std::unique_ptr<CachedExperts> p =
      New(source, stack_prefix, component, config, options, owner->cache_);
  OMNI_ASSIGN_OR_RETURN(p->io_, TaskQueue::Create(options.io_threads));
  p->owner_ = owner;
  MutexLock lock(&owner->mu_);
  owner->sharers_.push_back(p.get());
  return p;
}

std::unique_ptr<CachedExperts> CachedExperts::New(const WeightSource& source,
                                                  const std::string& stack_prefix,
                                                  Component component, const DecoderConfig& config,
                                                  const CacheOptions& options,
                                                  std::shared_ptr<ExpertCache> cache) {
  std::unique_ptr<CachedExperts> p(new CachedExperts());
  p->source_ = &source;
  p->component_ = component;
  p->config_ = config;
  p->options_ = options;
  p->expert_bytes_ = ExpertBytes(config);
  p->total_bytes_ = TotalExpertBytes(config);
  p->max_held_ = static_cast<int>(
      std::clamp<uint64_t>(options.budget_bytes / p->expert_bytes_, 1, config.num_experts_per_tok));
  for (int64_t l = 0; l < config.num_layers; ++l) {
    p->names_.push_back(LayerNames(stack_prefix, l));
  }
  p->predicted_.resize(config.num_layers);
  {
    MutexLock lock(&p->mu_);
    p->stats_.resize(config.num_layers);
  }
  p->cache_ = std::move(cache);
  return p;
}

void CachedExperts::OnEviction(uint64_t key, bool unused) {
  const ExpertKey k = ExpertKey::Unpack(key);
  MutexLock lock(&mu_);
  CachedExperts* target = this;
  for (CachedExperts* s : sharers_) {
    if (s->component_ == k.component) target = s;
  }
  auto count = [&](std::vector<ExpertCacheStats>& stats) {
    if (k.layer < 0 || k.layer >= static_cast<int>(stats.size())) return;
    ++stats[k.layer].evictions;
    if (unused) ++stats[k.layer].prefetch_wasted;
  };
  if (target == this) {
    count(stats_);
  } else {
    MutexLock sharer_lock(&target->mu_);  // lock order: the owner's mu_, then a sharer's
    count(target->stats_);
  }
}

int CachedExperts::max_held() const {
  if (owner_ == nullptr) return max_held_;
  // The owner's hot set takes its room from the shared budget.
  const uint64_t hot = owner_->hot_.size() * owner_->expert_bytes_;
  const uint64_t room = options_.budget_bytes - std::min(options_.budget_bytes, hot);
  return static_cast<int>(
      std::clamp<uint64_t>(room / expert_bytes_, 1, config_.num_experts_per_tok));
}

CachedExperts::~CachedExperts() {
  if (io_ != nullptr) io_->Drain();  // null when Create failed to start it
  if (owner_ != nullptr) {
    MutexLock lock(&owner_->mu_);
    std::erase(owner_->sharers_, this);
  }
  for (ExpertCache::Handle* h : hot_) cache_->Release(h);
  for (auto& [key, held] : held_) {
    if (held.handle != nullptr) cache_->Release(held.handle);
  }
}

Status CachedExperts::Load(int layer, int expert, ExpertCache::Handle* h) {
  const auto start = std::chrono::steady_clock::now();
  Status s = ReadExpert(*source_, names_[layer], expert, config_, cache_->Value(h),
                        options_.verify_checksums);
  if (!s.ok()) {
    s = Status(s.code(), fmt::format("{} layer {} expert {}: {}", ComponentName(component_), layer,
                                     expert, s.message()));
  }
  const double seconds = SecondsSince(start);
  {
    MutexLock lock(&mu_);
    ExpertCacheStats& st = stats_[layer];
    ++st.loads;
    st.load_seconds += seconds;
    if (s.ok()) st.bytes_read += expert_bytes_;
  }
  if (s.ok() && options_.on_load) {
    options_.on_load(Key(layer, expert), expert_bytes_, 1000 * seconds);
  }
  cache_->Publish(h, s);
  return s;
}

void CachedExperts::Expect(int layer, int expert) {
  const uint64_t key = Key(layer, expert);
  if (held_.count(key) != 0) return;
  if (layer != current_layer_) {  // a new layer pass: take the prediction made for it, if any
    current_prediction_.swap(predicted_[layer]);
    predicted_[layer].clear();
    current_layer_ = layer;
  }
  const auto start = std::chrono::steady_clock::now();
  auto pinned = cache_->Pin(key, expert_bytes_, ExpertCache::PinMode::kUse);
  const double waited = SecondsSince(start);
  Held& held = held_[key];
  if (!pinned.ok()) {
    held.status = pinned.status();
    return;
  }
  held.handle = pinned->handle;
  {
    MutexLock lock(&mu_);
    ExpertCacheStats& st = stats_[layer];
    ++st.accesses;
    st.stall_seconds += waited;
    if (pinned->inserted) {
      ++st.misses;
    } else {
      ++st.hits;
      if (pinned->prefetched) ++st.prefetch_hits;
    }
    const std::vector<int32_t>& pred = current_prediction_;
    if (!pred.empty()) {
      ++st.predicted_uses;
      if (std::find(pred.begin(), pred.end(), expert) != pred.end()) ++st.predicted_correct;
    }
  }
  if (pinned->inserted) {
    ExpertCache::Handle* h = pinned->handle;
    io_->Submit([this, layer, expert, h] { (void)Load(layer, expert, h); });  // Acquire reports
  }
}

StatusOr<ExpertWeights> CachedExperts::Acquire(int layer, int expert) {
  const uint64_t key = Key(layer, expert);
  if (held_.count(key) == 0) Expect(layer, expert);
  Held& held = held_[key];
  if (held.handle == nullptr) {
    Status s = held.status;
    held_.erase(key);
    return s;
  }
  const auto start = std::chrono::steady_clock::now();
  Status loaded = cache_->Wait(held.handle);
  const double waited = SecondsSince(start);
  {
    MutexLock lock(&mu_);
    stats_[layer].stall_seconds += waited;
  }
  if (!loaded.ok()) {
    cache_->Release(held.handle);
    held_.erase(key);
    return loaded;
  }
  return ExpertWeightsAt(config_, cache_->Value(held.handle));
}

void CachedExperts::Release(int layer, int expert) {
  auto it = held_.find(Key(layer, expert));
  if (it == held_.end()) return;
  if (it->second.handle != nullptr) cache_->Release(it->second.handle);
  held_.erase(it);
}

void CachedExperts::Prefetch(int layer, const int32_t* experts, int n) {
  if (!options_.prefetch || layer < 0 || layer >= config_.num_layers) return;
  predicted_[layer].assign(experts, experts + n);
  for (int i = 0; i < n; ++i) {
    const int expert = experts[i];
    const uint64_t key = Key(layer, expert);
    if (cache_->Contains(key)) continue;
    io_->Submit([this, layer, expert, key] {
      auto pinned = cache_->Pin(key, expert_bytes_, ExpertCache::PinMode::kPrefetch);
      if (!pinned.ok() || pinned->handle == nullptr) return;  // no room now: a hint, skipped
      if (pinned->inserted) {
        {
          MutexLock lock(&mu_);
          ++stats_[layer].prefetches;
        }
        Status s = Load(layer, expert, pinned->handle);
        if (!s.ok()) {  // the entry is gone; a use reads it again and reports its own error
          MutexLock lock(&mu_);
          ++stats_[layer].prefetch_failed;
          if (first_prefetch_error_.ok()) first_prefetch_error_ = s;
        }
      }
      cache_->Release(pinned->handle);
    });
  }
}

uint64_t CachedExperts::PinHotSet(const std::vector<uint64_t>& keys, uint64_t max_bytes) {
  uint64_t pinned = hot_.size() * expert_bytes_;
  std::vector<std::string> warnings;
  int foreign = 0;
  for (uint64_t key : keys) {
    const ExpertKey k = ExpertKey::Unpack(key);
    if (k.component != component_ || k.layer < 0 || k.layer >= config_.num_layers ||
        !config_.IsMoeLayer(k.layer) || k.expert < 0 || k.expert >= config_.num_experts) {
      ++foreign;
      continue;
    }
    if (pinned + expert_bytes_ > max_bytes) break;
    auto r = cache_->Pin(key, expert_bytes_, ExpertCache::PinMode::kUse);
    if (!r.ok()) {
      warnings.push_back(fmt::format("hot set: stopped at layer {} expert {}: {}", k.layer,
                                     k.expert, r.status().message()));
      break;
    }
    Status loaded = r->inserted ? Load(k.layer, k.expert, r->handle) : cache_->Wait(r->handle);
    if (!loaded.ok()) {
      cache_->Release(r->handle);
      warnings.push_back(fmt::format("hot set: layer {} expert {} not pinned: {}", k.layer,
                                     k.expert, loaded.message()));
      continue;
    }
    hot_.push_back(r->handle);
    pinned += expert_bytes_;
  }
  if (foreign > 0) {
    warnings.push_back(
        fmt::format("hot set: {} of {} experts skipped (another component, or outside this model)",
                    foreign, keys.size()));
  }
  const uint64_t room = options_.budget_bytes - std::min(options_.budget_bytes, pinned);
  max_held_ =
      static_cast<int>(std::clamp<uint64_t>(room / expert_bytes_, 1, config_.num_experts_per_tok));
  MutexLock lock(&mu_);
  hot_set_warnings_.insert(hot_set_warnings_.end(), warnings.begin(), warnings.end());
  return pinned;
}

std::vector<std::string> CachedExperts::Warnings() const {
  MutexLock lock(&mu_);
  std::vector<std::string> out = hot_set_warnings_;
  uint64_t failed = 0;
  for (const ExpertCacheStats& s : stats_) failed += s.prefetch_failed;
  if (failed > 0) {
    out.push_back(fmt::format(
        "{} prefetch read(s) failed (first: {}); experts that were then used were read again",
        failed, first_prefetch_error_.message()));
  }
  return out;
}

bool CachedExperts::IsResident(int layer, int expert) const {
  return cache_->Contains(Key(layer, expert));
}

std::vector<ExpertCacheStats> CachedExperts::layer_stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

ExpertCacheStats CachedExperts::total_stats() const {
  ExpertCacheStats total;
  for (const ExpertCacheStats& s : layer_stats()) total.Add(s);
  return total;
}

void CachedExperts::ResetStats() {
  MutexLock lock(&mu_);
  for (ExpertCacheStats& s : stats_) s = ExpertCacheStats{};
}

}  // namespace omnisage

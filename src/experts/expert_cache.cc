#include "experts/expert_cache.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cassert>
#include <cerrno>

#include "util/memory_ledger.h"

namespace omnisage {

// Every field but key, charge and data (fixed at insertion) is read and written under the
// cache's mu_ (the states are defined in the header).
struct ExpertCache::Entry {
  uint64_t key = 0;
  uint64_t charge = 0;
  uint8_t* data = nullptr;
  int refs = 0;
  bool loading = true;           // LOADING
  bool in_table = true;          // false once FAILED
  bool unused = false;           // inserted by a kPrefetch Pin, no kUse Pin since
  Status status = Status::Ok();  // of the load, once published
};

namespace {

uint8_t* MapBuffer(uint64_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  MemoryLedger::Global().Add(MemoryKind::kExpertCache, static_cast<int64_t>(bytes));
  return static_cast<uint8_t*>(p);
}

void UnmapBuffer(uint8_t* p, uint64_t bytes) {
  if (p == nullptr) return;
  munmap(p, bytes);
  MemoryLedger::Global().Add(MemoryKind::kExpertCache, -static_cast<int64_t>(bytes));
}

}  // namespace

ExpertCache::ExpertCache(uint64_t capacity, std::unique_ptr<EvictionPolicy> policy)
    : policy_(std::move(policy)), capacity_(capacity) {}

ExpertCache::~ExpertCache() {
  for (auto& [key, e] : table_) {
    assert(e->refs == 0 && "ExpertCache destroyed with a pinned entry");
    Free(e);
  }
}

void ExpertCache::Free(Entry* e) {
  UnmapBuffer(e->data, e->charge);
  usage_ -= e->charge;
  delete e;
}

bool ExpertCache::MakeRoom(uint64_t charge, uint8_t** reuse) {
  while (usage_ + charge > capacity_) {
    // The predicate runs inside Victim, under mu_.
    auto victim = policy_->Victim([this](uint64_t key) OMNI_NO_THREAD_SAFETY_ANALYSIS {
      auto it = table_.find(key);
      return it != table_.end() && it->second->refs == 0 && !it->second->loading;
    });
    if (!victim) return false;
    Entry* e = table_[*victim];
    table_.erase(*victim);
    policy_->OnErase(*victim);
    ++evictions_;
    if (listener_) listener_(*victim, e->unused);
    if (*reuse == nullptr && e->charge == charge) {
      // The buffer changes hands: its bytes stay mapped and on the ledger.
      *reuse = std::exchange(e->data, nullptr);
      usage_ -= e->charge;
      delete e;
    } else {
      Free(e);
    }
  }
  return true;
}

StatusOr<ExpertCache::PinResult> ExpertCache::Pin(uint64_t key, uint64_t charge, PinMode mode) {
  const bool access = mode == PinMode::kUse;
  MutexLock lock(&mu_);
  if (charge > capacity_) {
    return ResourceExhausted(
        fmt::format("expert of {} bytes does not fit the expert cache's budget of {} bytes", charge,
                    capacity_));
  }
  for (;;) {
    auto it = table_.find(key);
    if (it != table_.end()) {
      Entry* e = it->second;
      ++e->refs;
      const bool prefetched = access && e->unused;
      if (access) {
        policy_->OnAccess(key);
        e->unused = false;
      }
      return PinResult{e, false, prefetched};
    }
    uint8_t* reuse = nullptr;
    if (MakeRoom(charge, &reuse)) {
      uint8_t* data = reuse;
      if (data == nullptr) {
        data = MapBuffer(charge);
        if (data == nullptr) {
          return ResourceExhausted(
              fmt::format("expert cache: cannot allocate {} bytes (errno {})", charge, errno));
        }
      }
      Entry* e =
          new Entry{.key = key, .charge = charge, .data = data, .refs = 1, .unused = !access};
      table_[key] = e;
      usage_ += charge;
      peak_usage_ = std::max(peak_usage_, usage_);
      policy_->OnInsert(key, charge);
      if (access) policy_->OnAccess(key);
      return PinResult{e, true};
    }
    if (reuse != nullptr) UnmapBuffer(reuse, charge);
    if (mode == PinMode::kPrefetch) return PinResult{};
    lock.Wait(&changed_cv_);
  }
}

void ExpertCache::Publish(Handle* e, Status loaded) {
  MutexLock lock(&mu_);
  assert(e->loading && "an entry is published once");
  e->loading = false;
  e->status = std::move(loaded);
  if (!e->status.ok() && e->in_table) {
    table_.erase(e->key);
    policy_->OnErase(e->key);
    e->in_table = false;
  }
  changed_cv_.notify_all();
}

Status ExpertCache::Wait(Handle* e) {
  MutexLock lock(&mu_);
  while (e->loading) lock.Wait(&changed_cv_);
  return e->status;
}

void ExpertCache::Release(Handle* e) {
  MutexLock lock(&mu_);
  assert(e->refs > 0);
  if (--e->refs == 0) {
    if (!e->in_table) {
      Free(e);
    } else if (usage_ > capacity_) {  // the capacity shrank while this entry was pinned
      uint8_t* reuse = nullptr;
      MakeRoom(0, &reuse);
    }
  }
  changed_cv_.notify_all();
}

uint8_t* ExpertCache::Value(Handle* e) const { return e->data; }

bool ExpertCache::Contains(uint64_t key) const {
  MutexLock lock(&mu_);
  auto it = table_.find(key);
  return it != table_.end() && !it->second->loading;
}

void ExpertCache::SetCapacity(uint64_t capacity) {
  MutexLock lock(&mu_);
  capacity_ = capacity;
  uint8_t* reuse = nullptr;
  MakeRoom(0, &reuse);
  changed_cv_.notify_all();
}

void ExpertCache::set_eviction_listener(std::function<void(uint64_t, bool)> listener) {
  MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

uint64_t ExpertCache::capacity() const {
  MutexLock lock(&mu_);
  return capacity_;
}
uint64_t ExpertCache::usage() const {
  MutexLock lock(&mu_);
  return usage_;
}
uint64_t ExpertCache::peak_usage() const {
  MutexLock lock(&mu_);
  return peak_usage_;
}
uint64_t ExpertCache::evictions() const {
  MutexLock lock(&mu_);
  return evictions_;
}

}  // namespace omnisage

#include "experts/expert_cache.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cassert>
#include <cerrno>

#include "util/memory_ledger.h"

namespace omnisage {

struct ExpertCache::Entry {
  uint64_t key = 0;
  uint64_t charge = 0;
  uint8_t* data = nullptr;
  int refs = 0;
  bool loading = true;
  bool in_table = true;
  bool unused = false;           // inserted by a Pin without access, not accessed since
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
    auto victim = policy_->Victim([this](uint64_t key) {
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

StatusOr<ExpertCache::PinResult> ExpertCache::Pin(uint64_t key, uint64_t charge, bool wait,
                                                  bool access) {
  std::unique_lock<std::mutex> lock(mu_);
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
    if (!wait) return PinResult{};
    room_cv_.wait(lock);
  }
}

void ExpertCache::Publish(Handle* e, Status loaded) {
  std::lock_guard<std::mutex> lock(mu_);
  e->loading = false;
  e->status = std::move(loaded);
  if (!e->status.ok() && e->in_table) {
    table_.erase(e->key);
    policy_->OnErase(e->key);
    e->in_table = false;
  }
  room_cv_.notify_all();
}

Status ExpertCache::Wait(Handle* e) {
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [e] { return !e->loading; });
  return e->status;
}

void ExpertCache::Release(Handle* e) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(e->refs > 0);
  if (--e->refs == 0) {
    if (!e->in_table) {
      Free(e);
    } else if (usage_ > capacity_) {  // the capacity shrank while this entry was pinned
      uint8_t* reuse = nullptr;
      MakeRoom(0, &reuse);
    }
  }
  room_cv_.notify_all();
}

uint8_t* ExpertCache::Value(Handle* e) const { return e->data; }
uint64_t ExpertCache::key(const Handle* e) const { return e->key; }

bool ExpertCache::Contains(uint64_t key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(key);
  return it != table_.end() && !it->second->loading;
}

void ExpertCache::SetCapacity(uint64_t capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  capacity_ = capacity;
  uint8_t* reuse = nullptr;
  MakeRoom(0, &reuse);
  room_cv_.notify_all();
}

void ExpertCache::set_eviction_listener(std::function<void(uint64_t, bool)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

uint64_t ExpertCache::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}
uint64_t ExpertCache::usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  return usage_;
}
uint64_t ExpertCache::peak_usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_usage_;
}
uint64_t ExpertCache::evictions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}
size_t ExpertCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_.size();
}

}  // namespace omnisage

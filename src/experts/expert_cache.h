// ExpertCache: routed-expert weights in memory under a hard byte budget, on leveldb's cache
// contract. An entry is a key (a packed ExpertKey), a buffer and its charge in bytes; handles pin
// entries; a pinned entry is never evicted; the sum of the charges of all entries — loaded,
// loading or pinned — never exceeds the capacity. When room is needed, unpinned entries go in
// the order the EvictionPolicy chooses.
//
// Loading happens outside the cache: Pin() of an absent key reserves room, allocates the buffer
// and returns a handle marked as loading; the caller fills Value() (from any thread) and calls
// Publish(). Others who Pin the key meanwhile get the same entry and Wait() for it.
//
// Buffers are their own anonymous mappings (64-byte aligned, returned to the system on eviction,
// reused in place when a victim has the same size), charged to the MemoryLedger as
// kExpertCache, so the resident set follows the cache's usage rather than the allocator's.
//
// Thread-safe: every method may be called from any thread. Handles must be released before the
// cache is destroyed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "experts/eviction_policy.h"
#include "util/status.h"

namespace omnisage {

class ExpertCache {
 public:
  struct Entry;
  using Handle = Entry;

  ExpertCache(uint64_t capacity, std::unique_ptr<EvictionPolicy> policy);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  struct PinResult {
    Handle* handle = nullptr;  // null only when !wait and there was no room
    bool inserted = false;     // true: a new entry, loading; the caller must fill it and Publish
    bool prefetched = false;   // an access to an entry inserted without one and not used since
  };
  // Pins `key`'s entry, inserting it (charge bytes, loading) when absent. Making room evicts
  // unpinned entries; when pinned entries leave too little, `wait` blocks until releases make
  // room, else returns a null handle. `access` reports a use to the policy (false for
  // speculative prefetch, whose first use is reported when it comes). Errors: charge above the
  // capacity, or out of memory for the buffer.
  StatusOr<PinResult> Pin(uint64_t key, uint64_t charge, bool wait, bool access = true);
  // Ends a load started by Pin: `loaded` ok makes the entry usable; an error removes it from the
  // table (the next Pin retries) and is what Wait() returns to every holder.
  void Publish(Handle* h, Status loaded);
  // Blocks until `h` is no longer loading; returns the load's status.
  Status Wait(Handle* h);
  void Release(Handle* h);
  uint8_t* Value(Handle* h) const;
  uint64_t key(const Handle* h) const;

  // Whether `key` is in the table and fully loaded.
  bool Contains(uint64_t key) const;
  // Changes the budget; shrinking evicts unpinned entries down to it (pinned ones stay until
  // released, after which usage falls to the new capacity).
  void SetCapacity(uint64_t capacity);
  // Called (under the cache's lock: do not call back into the cache) for each evicted key, with
  // whether it was inserted without an access (prefetched) and never used.
  void set_eviction_listener(std::function<void(uint64_t key, bool unused)> listener);

  uint64_t capacity() const;
  uint64_t usage() const;  // bytes of all entries, pinned or not
  uint64_t peak_usage() const;
  uint64_t evictions() const;
  size_t entries() const;

 private:
  // Evicts unpinned entries until `charge` more bytes fit; returns whether they do. Collects a
  // victim buffer of exactly `charge` bytes for reuse into *reuse.
  bool MakeRoom(uint64_t charge, uint8_t** reuse);
  void Free(Entry* e);

  mutable std::mutex mu_;
  std::condition_variable room_cv_;  // releases and publishes
  std::unordered_map<uint64_t, Entry*> table_;
  std::unique_ptr<EvictionPolicy> policy_;
  std::function<void(uint64_t, bool)> listener_;
  uint64_t capacity_;
  uint64_t usage_ = 0;
  uint64_t peak_usage_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace omnisage

// ExpertCache: routed-expert weights in memory under a hard byte budget, on leveldb's cache
// contract. An entry is a key (a packed ExpertKey), a buffer and its charge in bytes; handles pin
// entries; a pinned entry is never evicted. When room is needed, unpinned entries go in the order
// the EvictionPolicy chooses.
//
// Loading happens outside the cache and outside its lock: Pin() of an absent key reserves room,
// allocates the buffer and returns a handle marked as loading; the inserter fills Value() (from
// any thread) and calls Publish() once. Others who Pin the key meanwhile get the same entry and
// Wait() for it.
//
// Entry states and invariants (all under mu_):
//   LOADING   in the table, inserted by a Pin, not yet published; never evicted.
//   READY     in the table, published with an ok status; evictable when refs == 0.
//   FAILED    published with an error: out of the table at once (the next Pin of its key inserts
//             a fresh entry and retries), kept alive for the holders that still Wait on it and
//             freed at the last Release.
//   - refs counts the handles Pin returned and Release has not yet taken back; an entry with
//     refs > 0 is never freed.
//   - usage_ is the sum of the charges of every entry not yet freed (in the table or FAILED);
//     usage_ <= capacity_, except after SetCapacity shrinks below what pinned entries hold: then
//     no insert happens until releases bring usage_ under the new capacity.
//   - the policy tracks exactly the keys in the table.
//   - every buffer is its own anonymous mapping (64-byte aligned), charged to the MemoryLedger as
//     kExpertCache from mapping to unmapping; a victim's buffer of the same size changes hands to
//     the new entry without leaving the ledger.
//
// Thread-safe: every method may be called from any thread. Handles must be released before the
// cache is destroyed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "experts/eviction_policy.h"
#include "util/mutex.h"
#include "util/status.h"

namespace omnisage {

class ExpertCache {
 public:
  struct Entry;
  using Handle = Entry;

  // How a Pin treats a full cache and the eviction policy.
  enum class PinMode {
    // The expert is needed now: block until releases make room, and report the use to the policy.
    kUse,
    // A speculative load (prefetch): return no handle when there is no room now, and report no
    // use (the first Pin with kUse reports it, and counts as a prefetch hit).
    kPrefetch,
  };

  ExpertCache(uint64_t capacity, std::unique_ptr<EvictionPolicy> policy);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  struct PinResult {
    Handle* handle = nullptr;  // null only with kPrefetch when there was no room
    bool inserted = false;     // a new entry, LOADING: this caller must fill it and Publish it
    bool prefetched = false;   // a kUse of an entry a kPrefetch inserted and nobody used since
  };
  // Pins `key`'s entry, inserting it (LOADING, `charge` bytes) when absent; making room evicts
  // unpinned READY entries. Errors: `charge` above the capacity, or no memory for the buffer.
  // REQUIRES: every Pin of one key uses the same charge.
  StatusOr<PinResult> Pin(uint64_t key, uint64_t charge, PinMode mode) OMNI_EXCLUDES(mu_);
  // Ends the load of an entry this caller inserted: `loaded` ok makes it READY; an error makes
  // it FAILED and is what Wait() returns to every holder.
  // REQUIRES: `h` came from a Pin with inserted == true, and is published once, by that caller.
  void Publish(Handle* h, Status loaded) OMNI_EXCLUDES(mu_);
  // Blocks until `h` is no longer LOADING; returns the load's status.
  // REQUIRES: `h` is pinned by this caller.
  Status Wait(Handle* h) OMNI_EXCLUDES(mu_);
  // Unpins `h`; the handle must not be used afterwards.
  // REQUIRES: one Release per Pin that returned a handle; the inserter Publishes before it
  // Releases.
  void Release(Handle* h) OMNI_EXCLUDES(mu_);
  // The entry's buffer (`charge` bytes).
  // REQUIRES: `h` is pinned; the bytes are the expert's only after Wait returned ok (or, for the
  // inserter, once it has filled them).
  uint8_t* Value(Handle* h) const;

  // Whether `key` is in the table and READY.
  bool Contains(uint64_t key) const OMNI_EXCLUDES(mu_);
  // Changes the budget; shrinking evicts unpinned entries down to it (pinned ones stay until
  // released, after which usage falls to the new capacity).
  void SetCapacity(uint64_t capacity) OMNI_EXCLUDES(mu_);
  // Called under the cache's lock for each evicted key, with whether a kPrefetch inserted it and
  // nobody used it. REQUIRES: the listener does not call back into the cache.
  void set_eviction_listener(std::function<void(uint64_t key, bool unused)> listener)
      OMNI_EXCLUDES(mu_);

  uint64_t capacity() const OMNI_EXCLUDES(mu_);
  uint64_t usage() const OMNI_EXCLUDES(mu_);  // bytes of all entries, pinned or not
  uint64_t peak_usage() const OMNI_EXCLUDES(mu_);
  uint64_t evictions() const OMNI_EXCLUDES(mu_);

 private:
  // Evicts unpinned READY entries until `charge` more bytes fit; returns whether they do. A
  // victim buffer of exactly `charge` bytes is handed over in *reuse (still on the ledger).
  bool MakeRoom(uint64_t charge, uint8_t** reuse) OMNI_REQUIRES(mu_);
  // Unmaps e's buffer, takes its charge off usage_ and deletes it.
  void Free(Entry* e) OMNI_REQUIRES(mu_);

  mutable Mutex mu_;
  std::condition_variable changed_cv_;  // a release, a publish or a new capacity
  std::unordered_map<uint64_t, Entry*> table_ OMNI_GUARDED_BY(mu_);
  std::unique_ptr<EvictionPolicy> policy_ OMNI_PT_GUARDED_BY(mu_);
  std::function<void(uint64_t, bool)> listener_ OMNI_GUARDED_BY(mu_);
  uint64_t capacity_ OMNI_GUARDED_BY(mu_);
  uint64_t usage_ OMNI_GUARDED_BY(mu_) = 0;
  uint64_t peak_usage_ OMNI_GUARDED_BY(mu_) = 0;
  uint64_t evictions_ OMNI_GUARDED_BY(mu_) = 0;
};

}  // namespace omnisage

// ExpertCache: the budget is never exceeded, pinned entries stay, loads are shared and failures
// reach every holder, shrinking evicts, and the ledger follows the buffers.
#include "experts/expert_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "util/memory_ledger.h"

namespace omnisage {
namespace {

constexpr uint64_t kCharge = 4096;

std::unique_ptr<ExpertCache> NewCache(uint64_t entries) {
  return std::make_unique<ExpertCache>(entries * kCharge, NewLruPolicy());
}

// Pins `key`, filling a new entry with its key byte; returns the handle.
ExpertCache::Handle* PinFilled(ExpertCache& c, uint64_t key, bool* inserted = nullptr) {
  auto r = c.Pin(key, kCharge, ExpertCache::PinMode::kUse);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (r->inserted) {
    std::memset(c.Value(r->handle), static_cast<int>(key & 0xFF), kCharge);
    c.Publish(r->handle, Status::Ok());
  }
  if (inserted != nullptr) *inserted = r->inserted;
  return r->handle;
}

TEST(ExpertCacheTest, HitAfterInsertAndLruEviction) {
  auto c = NewCache(2);
  bool inserted = false;
  c->Release(PinFilled(*c, 1, &inserted));
  EXPECT_TRUE(inserted);
  c->Release(PinFilled(*c, 2, &inserted));
  c->Release(PinFilled(*c, 1, &inserted));  // 1 is now the most recent
  EXPECT_FALSE(inserted);
  c->Release(PinFilled(*c, 3, &inserted));  // evicts 2
  EXPECT_TRUE(c->Contains(1));
  EXPECT_FALSE(c->Contains(2));
  EXPECT_TRUE(c->Contains(3));
  EXPECT_EQ(c->evictions(), 1u);
  EXPECT_EQ(c->usage(), 2 * kCharge);
}

TEST(ExpertCacheTest, PinnedEntriesAreNeverEvicted) {
  auto c = NewCache(2);
  ExpertCache::Handle* a = PinFilled(*c, 1);
  ExpertCache::Handle* b = PinFilled(*c, 2);
  auto full = c->Pin(3, kCharge, ExpertCache::PinMode::kPrefetch);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->handle, nullptr);  // no room and no waiting
  EXPECT_TRUE(c->Contains(1) && c->Contains(2));
  c->Release(b);
  ExpertCache::Handle* d = PinFilled(*c, 3);  // evicts 2, the only unpinned entry
  EXPECT_TRUE(c->Contains(1));
  EXPECT_FALSE(c->Contains(2));
  EXPECT_EQ(c->Value(a)[0], 1);
  c->Release(a);
  c->Release(d);
}

TEST(ExpertCacheTest, WaitingPinProceedsAfterRelease) {
  auto c = NewCache(1);
  ExpertCache::Handle* a = PinFilled(*c, 1);
  std::atomic<bool> done{false};
  std::thread t([&] {
    c->Release(PinFilled(*c, 2));
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done.load());  // blocked: the only slot is pinned
  c->Release(a);
  t.join();
  EXPECT_TRUE(done.load());
  EXPECT_TRUE(c->Contains(2));
}

TEST(ExpertCacheTest, ChargeAboveCapacityIsAnError) {
  auto c = NewCache(1);
  auto r = c->Pin(1, 2 * kCharge, ExpertCache::PinMode::kUse);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("8192"), std::string::npos) << r.status().message();
}

TEST(ExpertCacheTest, ConcurrentPinSharesOneLoad) {
  auto c = NewCache(2);
  auto first = c->Pin(7, kCharge, ExpertCache::PinMode::kUse);
  ASSERT_TRUE(first.ok() && first->inserted);
  auto second = c->Pin(7, kCharge, ExpertCache::PinMode::kUse);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->inserted);
  EXPECT_FALSE(c->Contains(7));  // still loading
  std::thread loader([&] {
    std::memset(c->Value(first->handle), 7, kCharge);
    c->Publish(first->handle, Status::Ok());
  });
  EXPECT_TRUE(c->Wait(second->handle).ok());
  EXPECT_EQ(c->Value(second->handle)[kCharge - 1], 7);
  loader.join();
  c->Release(first->handle);
  c->Release(second->handle);
}

TEST(ExpertCacheTest, FailedLoadReachesEveryHolderAndIsRetried) {
  auto c = NewCache(2);
  auto a = c->Pin(5, kCharge, ExpertCache::PinMode::kUse);
  auto b = c->Pin(5, kCharge, ExpertCache::PinMode::kUse);
  ASSERT_TRUE(a.ok() && b.ok());
  c->Publish(a->handle, IoError("expert_005.safetensors: read failed"));
  EXPECT_EQ(c->Wait(b->handle).message(), "expert_005.safetensors: read failed");
  EXPECT_FALSE(c->Contains(5));
  c->Release(a->handle);
  c->Release(b->handle);
  EXPECT_EQ(c->usage(), 0u);
  bool inserted = false;
  c->Release(PinFilled(*c, 5, &inserted));
  EXPECT_TRUE(inserted);
}

TEST(ExpertCacheTest, ShrinkingEvictsDownToTheNewCapacity) {
  auto c = NewCache(4);
  for (uint64_t k = 1; k <= 4; ++k) c->Release(PinFilled(*c, k));
  ExpertCache::Handle* pinned = PinFilled(*c, 4);
  c->SetCapacity(kCharge);  // REST: one slot
  EXPECT_EQ(c->usage(), kCharge);
  EXPECT_TRUE(c->Contains(4));
  c->Release(pinned);
  c->SetCapacity(0);
  EXPECT_EQ(c->usage(), 0u);
}

TEST(ExpertCacheTest, PrefetchedEntriesAreFlaggedUntilFirstUse) {
  auto c = NewCache(2);
  std::vector<std::pair<uint64_t, bool>> evicted;
  c->set_eviction_listener([&](uint64_t key, bool unused) { evicted.push_back({key, unused}); });
  auto pre = c->Pin(1, kCharge, ExpertCache::PinMode::kPrefetch);
  ASSERT_TRUE(pre.ok() && pre->inserted);
  c->Publish(pre->handle, Status::Ok());
  c->Release(pre->handle);
  auto use = c->Pin(1, kCharge, ExpertCache::PinMode::kUse);
  ASSERT_TRUE(use.ok());
  EXPECT_TRUE(use->prefetched);
  c->Release(use->handle);
  auto again = c->Pin(1, kCharge, ExpertCache::PinMode::kUse);
  EXPECT_FALSE(again->prefetched);
  c->Release(again->handle);
  auto pre2 = c->Pin(2, kCharge, ExpertCache::PinMode::kPrefetch);
  c->Publish(pre2->handle, Status::Ok());
  c->Release(pre2->handle);
  c->SetCapacity(0);
  ASSERT_EQ(evicted.size(), 2u);
  for (auto [key, unused] : evicted) EXPECT_EQ(unused, key == 2) << key;
}

TEST(ExpertCacheTest, LedgerFollowsTheBuffers) {
  MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t before = ledger.current(MemoryKind::kExpertCache);
  {
    auto c = NewCache(3);
    for (uint64_t k = 0; k < 10; ++k) c->Release(PinFilled(*c, k));
    EXPECT_EQ(ledger.current(MemoryKind::kExpertCache) - before, 3 * kCharge);
  }
  EXPECT_EQ(ledger.current(MemoryKind::kExpertCache), before);
}

// Many threads pin random keys; usage never passes the capacity, every value read is its own.
TEST(ExpertCacheTest, ConcurrentStressKeepsTheBudgetAndTheData) {
  auto c = std::make_unique<ExpertCache>(6 * kCharge, NewLfuPolicy(64));
  std::atomic<bool> over{false}, corrupt{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 3000; ++i) {
        const uint64_t key = rng() % 16;
        auto r = c->Pin(key, kCharge, ExpertCache::PinMode::kUse);
        if (!r.ok()) {
          corrupt = true;
          return;
        }
        if (r->inserted) {
          std::memset(c->Value(r->handle), static_cast<int>(key), kCharge);
          c->Publish(r->handle, Status::Ok());
        } else if (!c->Wait(r->handle).ok()) {
          corrupt = true;
        }
        const uint8_t* v = c->Value(r->handle);
        if (v[0] != key || v[kCharge - 1] != key) corrupt = true;
        if (c->usage() > c->capacity()) over = true;
        c->Release(r->handle);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_FALSE(corrupt.load());
  EXPECT_LE(c->peak_usage(), 6 * kCharge);
}

}  // namespace
}  // namespace omnisage

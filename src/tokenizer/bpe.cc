#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "tokenizer/byte_level.h"

namespace omnisage {
namespace {

// Pieces longer than this are encoded every time: long runs are rare and would fill the cache.
constexpr size_t kMaxCachedPieceBytes = 256;

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left) + 1) << 32) |
         (static_cast<uint32_t>(right) + 1);
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

struct Part {
  int32_t id;
  int32_t prev;  // -1: none
  int32_t next;  // -1: none
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const std::unordered_map<std::string, int32_t>& vocab, const std::vector<BpeMerge>& merges,
    std::string_view source, size_t cache_capacity) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->shard_capacity_ = (cache_capacity + kCacheShards - 1) / kCacheShards;
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(std::string(ByteLevelChar(static_cast<uint8_t>(b))));
    m->byte_ids_[b] = it == vocab.end() ? -1 : it->second;
  }
  size_t size = 16;
  while (size < merges.size() * 2) size *= 2;
  m->merge_table_.assign(size, MergeEntry{});
  m->merge_mask_ = size - 1;
  for (size_t i = 0; i < merges.size(); ++i) {
    const BpeMerge& merge = merges[i];
    auto at = [&](std::string_view what) {
      return InvalidArgument(fmt::format("{}: model.merges[{}]: '{} {}': {}", source, i, merge.left,
                                         merge.right, what));
    };
    auto left = vocab.find(merge.left);
    if (left == vocab.end()) return at(fmt::format("'{}' is not in the vocabulary", merge.left));
    auto right = vocab.find(merge.right);
    if (right == vocab.end()) return at(fmt::format("'{}' is not in the vocabulary", merge.right));
    auto merged = vocab.find(merge.left + merge.right);
    if (merged == vocab.end()) return at("the merged token is not in the vocabulary");
    const uint64_t key = PairKey(left->second, right->second);
    for (uint64_t slot = Mix(key) & m->merge_mask_;; slot = (slot + 1) & m->merge_mask_) {
      MergeEntry& e = m->merge_table_[slot];
      // A repeated merge takes its last rank, as HF's map from merges does.
      if (e.key == key || e.key == 0) {
        e = MergeEntry{key, static_cast<int32_t>(i), merged->second};
        break;
      }
    }
  }
  return m;
}

const BpeModel::MergeEntry* BpeModel::FindMerge(int32_t left, int32_t right) const {
  const uint64_t key = PairKey(left, right);
  for (uint64_t slot = Mix(key) & merge_mask_;; slot = (slot + 1) & merge_mask_) {
    const MergeEntry& e = merge_table_[slot];
    if (e.key == key) return &e;
    if (e.key == 0) return nullptr;
  }
}

void BpeModel::EncodeUncached(std::string_view piece, std::vector<int32_t>* ids) const {
  std::vector<Part> parts;
  parts.reserve(piece.size());
  for (char c : piece) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id < 0) continue;  // HF drops characters outside a vocabulary that has no unk token
    const auto n = static_cast<int32_t>(parts.size());
    parts.push_back(Part{id, n - 1, -1, true});
    if (n > 0) parts[n - 1].next = n;
  }
  if (parts.size() > 1) {
    std::vector<Candidate> heap;
    heap.reserve(parts.size());
    auto push = [&](int32_t pos) {
      const int32_t next = parts[pos].next;
      if (next < 0) return;
      if (const MergeEntry* e = FindMerge(parts[pos].id, parts[next].id)) {
        heap.push_back({e->rank, pos});
        std::push_heap(heap.begin(), heap.end(), std::greater<>());
      }
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(parts.size()); ++i) push(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const Candidate top = heap.back();
      heap.pop_back();
      Part& p = parts[top.pos];
      if (!p.alive || p.next < 0) continue;
      const MergeEntry* e = FindMerge(p.id, parts[p.next].id);
      // A stale candidate: one of its parts has been merged into something else since.
      if (e == nullptr || e->rank != top.rank) continue;
      Part& q = parts[p.next];
      p.id = e->merged_id;
      q.alive = false;
      p.next = q.next;
      if (q.next >= 0) parts[q.next].prev = top.pos;
      if (p.prev >= 0) push(p.prev);
      push(top.pos);
    }
  }
  for (int32_t i = parts.empty() ? -1 : 0; i >= 0; i = parts[i].next) ids->push_back(parts[i].id);
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.size() == 1) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(piece[0])];
    if (id >= 0) ids->push_back(id);
    return;
  }
  const bool cacheable = shard_capacity_ > 0 && piece.size() <= kMaxCachedPieceBytes;
  if (!cacheable) {
    EncodeUncached(piece, ids);
    return;
  }
  CacheShard& shard = cache_[StringHash()(piece) % kCacheShards];
  {
    std::shared_lock lock(shard.mu);
    auto it = shard.map.find(piece);
    if (it != shard.map.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  EncodeUncached(piece, ids);
  std::unique_lock lock(shard.mu);
  // When full, a shard stops growing (as HF's cache does) rather than paying for eviction.
  if (shard.map.size() < shard_capacity_) {
    shard.map.emplace(std::string(piece), std::vector<int32_t>(ids->begin() + first, ids->end()));
  }
}

}  // namespace omnisage

// Byte-level BPE: turns one pre-tokenized piece (raw bytes) into token ids, merging adjacent
// parts by merge rank exactly as HF tokenizers' BPE model does (lowest rank first; among equal
// ranks, the leftmost pair first).
//
// Each byte starts as its own part (the vocabulary id of its byte-level character); the pairs of
// neighbouring parts sit in a min-heap keyed by (rank, position) over a doubly linked list of
// parts, so a word of n bytes costs O(n log n). Results are memoised per piece in a bounded cache
// that stops growing when full (as HF's does).
//
// Thread-safety: immutable after Create except the cache, whose shards are guarded by shared
// mutexes; Encode may be called from several threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/status.h"

namespace omnisage {

struct BpeMerge {
  std::string left;   // byte-level token strings, as in tokenizer.json
  std::string right;  //
};

class BpeModel {
 public:
  // `vocab` maps byte-level token strings to ids; `merges` are in rank order (rank = index). A
  // merge whose parts or result are not in the vocabulary is an error naming `source`
  // ("tokenizer.json: model.merges[12]: ..."). `cache_capacity` pieces are memoised (0: none).
  static StatusOr<std::unique_ptr<BpeModel>> Create(
      const std::unordered_map<std::string, int32_t>& vocab, const std::vector<BpeMerge>& merges,
      std::string_view source, size_t cache_capacity);

  // Appends the ids of `piece` (raw bytes, not byte-level characters) to `ids`.
  void Encode(std::string_view piece, std::vector<int32_t>* ids) const;

  // The same without touching the cache.
  void EncodeUncached(std::string_view piece, std::vector<int32_t>* ids) const;

 private:
  struct MergeEntry {
    uint64_t key = 0;  // (left id + 1) << 32 | (right id + 1); 0 marks an empty slot
    int32_t rank = 0;
    int32_t merged_id = 0;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  BpeModel() = default;
  const MergeEntry* FindMerge(int32_t left, int32_t right) const;

  std::array<int32_t, 256> byte_ids_{};  // -1: the byte's character is not in the vocabulary
  std::vector<MergeEntry> merge_table_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;

  // The cache is split into shards by hash so that threads encoding at once rarely share a lock.
  static constexpr size_t kCacheShards = 16;
  struct CacheShard {
    std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  size_t shard_capacity_ = 0;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace omnisage

// Per-layer key/value cache of a decoder stack, float32, [capacity, kv_heads · head_dim] per layer.
// length() positions are filled; Forward appends. Owned by one session; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace omnisage {

class KvCache {
 public:
  KvCache(int64_t layers, int64_t capacity, int64_t kv_dim)
      : capacity_(capacity), kv_dim_(kv_dim), k_(layers), v_(layers) {
    for (int64_t l = 0; l < layers; ++l) {
      k_[l].resize(capacity * kv_dim);
      v_[l].resize(capacity * kv_dim);
    }
  }

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  int64_t kv_dim() const { return kv_dim_; }
  float* k(int64_t layer, int64_t pos) { return k_[layer].data() + pos * kv_dim_; }
  float* v(int64_t layer, int64_t pos) { return v_[layer].data() + pos * kv_dim_; }
  void set_length(int64_t n) { length_ = n; }
  void Clear() { length_ = 0; }
  uint64_t bytes() const { return BytesFor(static_cast<int64_t>(k_.size()), capacity_, kv_dim_); }
  // What a cache of these dimensions holds (keys and values, float32).
  static uint64_t BytesFor(int64_t layers, int64_t capacity, int64_t kv_dim) {
    return 2 * static_cast<uint64_t>(layers) * static_cast<uint64_t>(capacity * kv_dim) *
           sizeof(float);
  }

 private:
  int64_t capacity_;
  int64_t kv_dim_;
  int64_t length_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace omnisage

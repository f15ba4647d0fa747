#include "vision/vision_activations.h"

#include <algorithm>

#include "vision/vision_attention.h"

namespace omnisage {
namespace {

struct Sizes {
  int64_t x, normed, qkv, rope, delta, hidden, merged, attention_per_worker, attention;
  int64_t total() const { return x + normed + qkv + rope + delta + hidden + merged + attention; }
};

Sizes SizesFor(const VisionEncoderConfig& c, int64_t frame, int workers) {
  const int64_t h = c.hidden_size, rows = VisionEncoderActivations::kRows;
  const int64_t group = c.spatial_merge_size * c.spatial_merge_size;
  const int64_t head_dim = c.num_heads > 0 ? h / c.num_heads : 0;
  const HeadAttentionSizes a = HeadAttentionSizes::For(frame, head_dim);
  const int64_t per_worker =
      a.kt() + a.vp(frame) + kAttentionBlock * a.m_pad + kAttentionBlock * a.hd_pad;
  return {.x = frame * h,
          .normed = frame * h,
          .qkv = frame * 3 * h,
          .rope = frame * head_dim,
          .delta = rows * h,
          .hidden = rows * std::max(c.intermediate_size, group * h),
          .merged = rows * h,
          .attention_per_worker = per_worker,
          .attention = int64_t{workers} * per_worker};
}

template <typename T>
uint64_t Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) {
    v.reserve(n);  // exactly n: resize alone may double the capacity
    v.resize(n);
  }
  return v.capacity() * sizeof(T);
}

}  // namespace

uint64_t VisionEncoderActivations::BytesFor(const VisionEncoderConfig& config, int64_t frame,
                                            int workers) {
  return static_cast<uint64_t>(SizesFor(config, frame, workers).total()) * sizeof(float);
}

void VisionEncoderActivations::Reserve(const VisionEncoderConfig& c, int64_t frame_patches,
                                       int threads) {
  workers = std::max(workers, threads);
  frame = std::max(frame, frame_patches);
  const Sizes s = SizesFor(c, frame, workers);
  uint64_t b = 0;
  b += Grow(x, s.x);
  b += Grow(normed, s.normed);
  b += Grow(qkv, s.qkv);
  b += Grow(rope, s.rope);
  b += Grow(delta, s.delta);
  b += Grow(hidden, s.hidden);
  b += Grow(merged, s.merged);
  attention_per_worker = s.attention_per_worker;
  b += Grow(attention, s.attention);
  bytes_ = b;
  charge_ = LedgerCharge(MemoryKind::kActivations, bytes_);
}

}  // namespace omnisage

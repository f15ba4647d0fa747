#include "audio/audio_activations.h"

#include <algorithm>

namespace omnisage {
namespace {

template <typename T>
uint64_t Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
  return v.capacity() * sizeof(T);
}

int64_t Halve(int64_t n) { return (n - 1) / 2 + 1; }

}  // namespace

void AudioEncoderActivations::Reserve(const AudioEncoderConfig& c, int64_t pad, int threads) {
  workers = std::max(workers, threads);
  const int64_t chunk_frames = 2 * c.n_window;
  const int64_t chunks_per_window = std::max<int64_t>(1, c.n_window_infer / chunk_frames);
  window = std::max(window, chunks_per_window * Halve(Halve(Halve(chunk_frames))));
  const int64_t bins = c.num_mel_bins, ds = c.downsample_hidden_size, d = c.d_model;
  const int64_t f1 = Halve(bins), f2 = Halve(f1), f3 = Halve(f2);
  const int64_t t1 = Halve(pad), t2 = Halve(t1), t3 = Halve(t2);
  const int64_t columns_size = std::max({f1 * t1 * 9, f2 * t2 * ds * 9, f3 * t3 * ds * 9});
  const int64_t ffn = std::max(c.encoder_ffn_dim, d);

  uint64_t b = 0;
  b += Grow(chunk, bins * pad);
  b += Grow(columns, columns_size);
  b += Grow(conv1, f1 * t1 * ds);
  b += Grow(conv2, f2 * t2 * ds);
  b += Grow(conv3, f3 * t3 * ds);
  b += Grow(flat, t3 * ds * f3);
  b += Grow(x, window * d);
  b += Grow(normed, window * d);
  b += Grow(q, window * d);
  b += Grow(k, window * d);
  b += Grow(v, window * d);
  b += Grow(attn, window * d);
  b += Grow(delta, window * d);
  b += Grow(hidden, window * ffn);
  b += Grow(scores, workers * window);
  bytes_ = b;
  charge_ = LedgerCharge(MemoryKind::kActivations, bytes_);
}

}  // namespace omnisage

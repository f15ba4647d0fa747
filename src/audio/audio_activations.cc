#include "audio/audio_activations.h"

#include <algorithm>

namespace omnisage {
namespace {

template <typename T>
uint64_t Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) {
    v.reserve(n);  // exactly n: resize alone may double the capacity
    v.resize(n);
  }
  return v.capacity() * sizeof(T);
}

int64_t Halve(int64_t n) { return (n - 1) / 2 + 1; }

}  // namespace

template <typename F>
void AudioEncoderActivations::Layout(const AudioEncoderConfig& c, int64_t pad, int64_t window,
                                     int workers, F&& f) {
  const int64_t bins = c.num_mel_bins, ds = c.downsample_hidden_size, d = c.d_model;
  const int64_t f1 = Halve(bins), f2 = Halve(f1), f3 = Halve(f2);
  const int64_t t1 = Halve(pad), t2 = Halve(t1), t3 = Halve(t2);
  const int64_t columns_size = std::max({f1 * t1 * 9, f2 * t2 * ds * 9, f3 * t3 * ds * 9});
  const int64_t ffn = std::max(c.encoder_ffn_dim, d);
  using A = AudioEncoderActivations;
  f(&A::chunk, bins * pad);
  f(&A::columns, columns_size);
  f(&A::conv1, f1 * t1 * ds);
  f(&A::conv2, f2 * t2 * ds);
  f(&A::conv3, f3 * t3 * ds);
  f(&A::flat, t3 * ds * f3);
  f(&A::x, window * d);
  f(&A::normed, window * d);
  f(&A::q, window * d);
  f(&A::k, window * d);
  f(&A::v, window * d);
  f(&A::attn, window * d);
  f(&A::delta, window * d);
  f(&A::hidden, window * ffn);
  f(&A::scores, workers * window);
}

int64_t AudioEncoderActivations::WindowFor(const AudioEncoderConfig& c) {
  const int64_t chunk_frames = 2 * c.n_window;
  const int64_t chunks_per_window = std::max<int64_t>(1, c.n_window_infer / chunk_frames);
  return chunks_per_window * Halve(Halve(Halve(chunk_frames)));
}

uint64_t AudioEncoderActivations::BytesFor(const AudioEncoderConfig& c, int64_t pad, int workers) {
  uint64_t b = 0;
  Layout(c, pad, WindowFor(c), workers,
         [&](auto, int64_t n) { b += static_cast<uint64_t>(n) * sizeof(float); });
  return b;
}

void AudioEncoderActivations::Reserve(const AudioEncoderConfig& c, int64_t pad, int threads) {
  workers = std::max(workers, threads);
  window = std::max(window, WindowFor(c));
  uint64_t b = 0;
  Layout(c, pad, window, workers, [&](auto member, int64_t n) { b += Grow(this->*member, n); });
  bytes_ = b;
  charge_ = LedgerCharge(MemoryKind::kActivations, bytes_);
}

}  // namespace omnisage

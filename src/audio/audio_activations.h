// AudioEncoderActivations: every buffer one AudioEncoder::Encode touches, each with its shape.
// The encoder runs one attention window at a time, so the buffers hold one window (`window`
// tokens, n_window_infer / (2·n_window) chunks) and one chunk's convolutions, whatever the
// length of the audio. Sized by Reserve, never shrunk; charged to the MemoryLedger as
// kActivations for as long as they are held.
//
// Not thread-safe: owned by one encoder (attention's `scores` has one row per worker).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "util/memory_ledger.h"

namespace omnisage {

struct AudioEncoderActivations {
  // Sizes for `config`, chunks padded to `pad` ≤ 2·n_window frames, `workers` attention threads.
  void Reserve(const AudioEncoderConfig& config, int64_t pad, int workers);
  uint64_t bytes() const { return bytes_; }
  // What Reserve holds after sizing fresh buffers for chunks padded to `pad` frames (every
  // buffer's capacity is its element count, so this is exact; pad 2·n_window is the largest).
  static uint64_t BytesFor(const AudioEncoderConfig& config, int64_t pad, int workers);

  int64_t window = 0;  // tokens per attention window
  int workers = 0;

  // The convolutions of one chunk, channel-last; F1 = (bins-1)/2+1, T1 = (pad-1)/2+1, and so on.
  std::vector<float> chunk;    // [bins, pad]        the chunk's log-mel frames, zero-padded
  std::vector<float> columns;  // [F·T, c_in · 9]   im2col of the largest convolution's input
  std::vector<float> conv1;    // [F1, T1, ds]      ds = downsample_hidden_size
  std::vector<float> conv2;    // [F2, T2, ds]
  std::vector<float> conv3;    // [F3, T3, ds]
  std::vector<float> flat;     // [T3, ds · F3]     channel-major (c · F3 + f), conv_out's input

  // The encoder layers over one window.
  std::vector<float> x;       // [window, d_model]  the residual stream
  std::vector<float> normed;  // [window, d_model]  LayerNorm(x) feeding a block
  std::vector<float> q;       // [window, d_model]
  std::vector<float> k;       // [window, d_model]
  std::vector<float> v;       // [window, d_model]
  std::vector<float> attn;    // [window, d_model]  softmax(q kᵀ / √head_dim) v per head
  std::vector<float> delta;   // [window, d_model]  a block's output, added to x
  std::vector<float> hidden;  // [window, ffn]      fc1 → GELU; proj1 → GELU (ffn ≥ d_model)
  std::vector<float> scores;  // [workers, window]  one row of attention weights per worker

 private:
  static int64_t WindowFor(const AudioEncoderConfig& c);  // tokens per attention window
  template <typename F>
  static void Layout(const AudioEncoderConfig& c, int64_t pad, int64_t window, int workers, F&& f);

  uint64_t bytes_ = 0;
  LedgerCharge charge_;  // kActivations, bytes_
};

}  // namespace omnisage

// The AuT audio encoder of the Qwen3-Omni thinker (spec §6.3): log-mel features in, one embedding
// of the thinker's width per <|audio_pad|> token out. As transformers' Qwen3OmniMoeAudioEncoder:
//
//   1. each clip's [128, L] features are cut into chunks of 2·n_window = 100 frames (the last one
//      shorter); every chunk of the prompt is zero-padded to the longest chunk among them;
//   2. per chunk, as a one-channel image [128 freq, P time]: three 3x3 stride-2 convolutions with
//      GELU → [C = 480, 16, 13]; channel-major flatten (c·16 + f) → conv_out → [13, d_model];
//      the sinusoidal position embedding of positions 0..12 (restarting in every chunk) is added
//      and the padded frames are dropped;
//   3. attention windows of (n_window_infer / 100) chunks = 104 tokens, per clip from its start:
//      non-causal, block-diagonal (a window sees only itself);
//   4. pre-LN encoder layers: x += out_proj(MHA(LN(x))), x += fc2(GELU(fc1(LN(x)))) (biases,
//      LayerNorm eps 1e-5, exact erf GELU, scale head_dim^-½);
//   5. ln_post → proj1 → GELU → proj2 (d_model → output_dim, the thinker's hidden size).
//
// Since the windows are independent through every layer, the encoder runs one window at a time
// (at most 8 chunks, 104 tokens): the activations are bounded by a window, whatever the length of
// the audio. Weights are bf16 as in the checkpoint, charged to the memory ledger as dense
// weights; matmuls run on ops::MatMulBf16 over the thread pool; activations in float32.
//
// Not thread-safe: one Encode at a time (it parallelises internally over `pool`).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "audio/audio_activations.h"
#include "audio/log_mel.h"
#include "io/weight_source.h"
#include "model/config.h"
#include "model/media_tokens.h"  // AudioTokenCount: the rows Encode writes per clip
#include "model/weights.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

class AudioEncoder {
 public:
  // Loads thinker.audio_tower.* from `source`, checked against `config`'s shapes.
  static StatusOr<std::unique_ptr<AudioEncoder>> Load(const WeightSource& source,
                                                      const AudioEncoderConfig& config);

  // Embeddings of the clips of one prompt, clip after clip in the order given:
  // out [Σ AudioTokenCount(clips[i].frames), output_dim]. The clips are encoded together because
  // the chunk padding of step 1 depends on all of them (as in the reference).
  Status Encode(const std::vector<MelFeatures>& clips, ThreadPool* pool, std::vector<float>* out);

  const AudioEncoderConfig& config() const { return config_; }
  // Bytes of the weights held.
  uint64_t weight_bytes() const { return weight_bytes_; }
  AudioEncoderActivations& activations() { return act_; }

 private:
  struct Layer {
    Bf16Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    Bf16Tensor attn_norm_w, attn_norm_b, fc1_w, fc1_b, fc2_w, fc2_b, final_norm_w, final_norm_b;
  };
  explicit AudioEncoder(const AudioEncoderConfig& c) : config_(c) {}

  // act_.x[row, :] … for the valid frames of one chunk: `frames` mel frames of `clip` from
  // `first`, padded to `pad` frames; returns how many rows (tokens) it wrote.
  int64_t ConvChunk(const MelFeatures& clip, int64_t first, int64_t frames, int64_t pad,
                    int64_t row, ThreadPool* pool);
  // One 3x3 stride-2 convolution (padding 1) + bias + GELU, channel-last:
  // in [f, t, c_in] → out [(f-1)/2+1, (t-1)/2+1, c_out].
  void Conv(const float* in, int64_t f, int64_t t, int64_t c_in, const Bf16Tensor& w,
            const Bf16Tensor& b, float* out, ThreadPool* pool);
  // The encoder layers over act_.x [m, d_model] (one attention window).
  void Layers(int64_t m, ThreadPool* pool);
  void Attention(const Layer& w, int64_t m, ThreadPool* pool);

  AudioEncoderConfig config_;
  Bf16Tensor conv1_w_, conv1_b_, conv2_w_, conv2_b_, conv3_w_, conv3_b_, conv_out_w_;
  std::vector<Layer> layers_;
  Bf16Tensor ln_post_w_, ln_post_b_, proj1_w_, proj1_b_, proj2_w_, proj2_b_;
  std::vector<float> positions_;  // [tokens per full chunk, d_model] sinusoid table
  uint64_t weight_bytes_ = 0;
  AudioEncoderActivations act_;
};

}  // namespace omnisage

// Code2Wav: the vocoder that turns codec codes into a 24 kHz waveform (spec §8.5, transformers'
// Qwen3OmniMoeCode2Wav).
//
//   codes [frames, Q] ─ mean of the Q code embeddings ─► [frames, hidden]
//   ─ pre-transformer (causal sliding-window attention, RoPE, layer scales, SwiGLU, RMSNorm) ─►
//   ─ upsampling stages (transposed conv ×r, ConvNeXt block) ─► [frames·Πr, hidden]
//   ─ decoder: causal conv → blocks (SnakeBeta, causal transposed conv ×rate, three residual
//     units with dilations 1, 3, 9) → SnakeBeta → causal conv to one channel → clamp [−1, 1]
//
// Codes are frame-major here ([frames, Q], one talker step's Q codes together), where transformers
// has [Q, frames]. Every signal is time-major [T, C]. Weights stay bf16 (convolutions repacked
// for ops/conv_ops.h), activations are fp32.
//
// Chunks: transformers decodes long answers in windows (chunked_decode: 300 frames with 25 frames
// of left context whose audio is dropped). ChunkedDecode does the same for any window;
// Code2WavStream produces exactly ChunkedDecode's samples while the frames arrive, a window as soon
// as it is complete.
//
// Memory: weights are charged to the ledger as dense when loaded; the activation buffers grow to
// the largest window decoded (≈ 1.6 MB per frame of window with the real dimensions, measured;
// dominated by the last decoder block: 1920 samples × 96 channels per buffer) and are charged
// as activations.
// Not thread-safe: one Decode at a time (it parallelises internally over `pool`).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/rope.h"
#include "model/weights.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

class ThreadPool;

class Code2Wav {
 public:
  static constexpr int kSampleRate = 24000;
  // transformers' chunked_decode defaults (generate uses them).
  static constexpr int64_t kReferenceChunk = 300;
  static constexpr int64_t kLeftContext = 25;

  // Loads every code2wav.* tensor; errors name the missing or misshapen tensor.
  static StatusOr<std::unique_ptr<Code2Wav>> Load(const WeightSource& source,
                                                  const Code2WavConfig& config);

  const Code2WavConfig& config() const { return config_; }
  // Samples per code frame (the product of all upsampling factors; 1920 for the real model).
  int64_t samples_per_frame() const { return samples_per_frame_; }

  // transformers' forward(): all `frames` frames as one window. Appends the samples (slightly
  // fewer than frames · samples_per_frame(): each decoder block's transposed convolution trims
  // its edges) to `wav`. Errors: a code outside [0, codebook_size), frames < 1.
  Status Decode(const int32_t* codes, int64_t frames, std::vector<float>* wav, ThreadPool* pool);

  // transformers' chunked_decode(codes, chunk, left_context): windows of `chunk` frames, each
  // preceded by up to `left_context` earlier frames whose audio is dropped; appends to `wav`.
  Status ChunkedDecode(const int32_t* codes, int64_t frames, int64_t chunk, int64_t left_context,
                       std::vector<float>* wav, ThreadPool* pool);

  uint64_t weight_bytes() const { return weight_bytes_; }
  uint64_t activation_bytes() const { return act_charge_.bytes(); }
  // An upper bound on activation_bytes() after decoding windows of at most `frames` frames with
  // `workers` threads: the transformer's buffers for the window, the ConvNeXt blocks' wide
  // buffer, and each of the four signal buffers at the largest shape any stage gives one (the
  // memory planner's figure, runtime/memory_plan.h).
  static uint64_t ActivationBytesFor(const Code2WavConfig& config, int64_t frames, int workers);

 private:
  struct Layer {  // one pre-transformer layer
    Bf16Tensor input_norm, q_proj, k_proj, v_proj, o_proj, post_norm, gate, up, down;
    std::vector<float> attn_scale, mlp_scale;  // [hidden]
  };
  struct Upsample {  // transposed conv ×ratio, then a ConvNeXt block
    int64_t ratio = 0;
    Bf16Tensor conv, conv_bias;  // packed [ratio, hidden, hidden]
    Bf16Tensor dwconv, dwconv_bias, norm, norm_bias, pw1, pw1_bias, pw2, pw2_bias;
    std::vector<float> gamma;  // [hidden]
  };
  struct Snake {
    std::vector<float> alpha, inv_beta;  // [channels]: exp(α), 1 / (exp(β) + 1e-9)
  };
  struct Conv {  // a causal convolution, packed [c_out, k, c_in]
    Bf16Tensor weight, bias;
    int64_t c_in = 0, c_out = 0, k = 0, dilation = 1;
  };
  struct ResidualUnit {
    Snake act1, act2;
    Conv conv1, conv2;
  };
  struct Block {  // one decoder block
    int64_t rate = 0, c_in = 0, c_out = 0;
    Snake snake;
    Bf16Tensor up, up_bias;  // packed [2·rate, c_out, c_in]
    ResidualUnit units[3];
  };

  // The activation buffers. A signal buffer keeps kMargin zero rows in front of its data, so a
  // causal convolution reads its left padding in place.
  struct Signal {
    std::vector<float> storage;
    int64_t len = 0, ch = 0;
    float* data() { return storage.data() + kMargin * ch; }
    // Sizes for [len, ch] (growing, never shrinking) and zeroes the margin.
    void Shape(int64_t len, int64_t ch, int64_t extra_rows = 0);
  };
  static constexpr int64_t kMargin = 64;  // ≥ the widest causal padding, 6 · 9 rows

  explicit Code2Wav(const Code2WavConfig& c);
  void Embed(const int32_t* codes, int64_t frames);
  void Transformer(int64_t frames, ThreadPool* pool);
  void Attention(const Layer& w, int64_t t, ThreadPool* pool);
  void UpsampleStage(const Upsample& u, ThreadPool* pool);
  void DecoderBlock(const Block& b, ThreadPool* pool);
  void CausalConv(const Conv& c, Signal& in, Signal& out, ThreadPool* pool);
  void Charge();

  Code2WavConfig config_;
  Rope rope_;
  int64_t samples_per_frame_ = 1;
  uint64_t weight_bytes_ = 0;
  Bf16Tensor embedding_, final_norm_;
  std::vector<Layer> layers_;
  std::vector<Upsample> upsample_;
  Conv decoder_in_, decoder_out_;
  std::vector<Block> blocks_;
  Snake final_snake_;

  // Pre-transformer activations, [frames, …].
  std::vector<float> h_, normed_, q_, k_, v_, attn_, delta_, gate_, up_;
  std::vector<float> scores_;               // [workers, sliding_window]
  std::vector<float> rope_cos_, rope_sin_;  // [frames, head_dim / 2]
  // The convolutional part: the current signal, two work buffers and the ConvNeXt's wide rows.
  Signal cur_, next_, work_a_, work_b_;
  std::vector<float> wide_;  // [len, 4 · hidden]
  LedgerCharge act_charge_;  // kActivations: all of the above
};

// Streaming: frames of codes in, audio out in windows, equal sample for sample to
// Code2Wav::ChunkedDecode over all the frames with the same chunk and left context.
// Not thread-safe.
class Code2WavStream {
 public:
  Code2WavStream(Code2Wav* model, int64_t chunk, int64_t left_context = Code2Wav::kLeftContext);
  // Adds one frame's Q codes; when `chunk` frames past the last window have arrived, decodes the
  // window and appends its audio to `out`.
  Status Push(const int32_t* frame, std::vector<float>* out, ThreadPool* pool);
  // Decodes the last, partial window (if any frames are waiting) and appends its audio.
  Status Finish(std::vector<float>* out, ThreadPool* pool);
  int64_t frames() const { return static_cast<int64_t>(codes_.size()) / q_; }

 private:
  Status DecodeWindow(int64_t end, std::vector<float>* out, ThreadPool* pool);

  Code2Wav* model_;
  int64_t chunk_, left_context_, q_;
  int64_t start_ = 0;           // first frame not yet decoded
  std::vector<int32_t> codes_;  // [frames, Q], every frame so far
  std::vector<float> window_;
};

}  // namespace omnisage

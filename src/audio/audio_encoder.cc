#include "audio/audio_encoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "model/tensor_table.h"
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

// Output length of a 3x3, stride 2, padding 1 convolution.
int64_t Halve(int64_t n) { return (n - 1) / 2 + 1; }

float Gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2))); }

// Runs fn(begin, end) over [0, n) on the pool, or on this thread.
template <typename F>
void ForRange(ThreadPool* pool, int64_t n, const F& fn) {
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, fn);
  } else {
    fn(0, n);
  }
}

// y[r, :] = x[r, :] · Wᵀ + b, then GELU when asked, for r < rows.
void Linear(const float* x, int64_t rows, int64_t in, const Bf16Tensor& w, const Bf16Tensor* b,
            bool gelu, float* y, ThreadPool* pool) {
  const int64_t out = w.rows();
  ops::MatMulBf16(x, rows, in, w.ptr(), out, y, pool);
  if (b == nullptr && !gelu) return;
  ForRange(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = y + r * out;
      if (b != nullptr) {
        for (int64_t o = 0; o < out; ++o) row[o] += Bf16ToFloat(b->data[o]);
      }
      if (gelu) {
        for (int64_t o = 0; o < out; ++o) row[o] = Gelu(row[o]);
      }
    }
  });
}

// torch.nn.LayerNorm over the last dimension: (x − mean) / sqrt(var + eps) · w + b, with the
// biased variance; statistics accumulated in double.
void LayerNormRows(const float* x, int64_t rows, int64_t dim, const Bf16Tensor& w,
                   const Bf16Tensor& b, float* y) {
  constexpr double kEps = 1e-5;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + kEps);
    for (int64_t i = 0; i < dim; ++i) {
      y[r * dim + i] = static_cast<float>((xr[i] - mean) * inv) * Bf16ToFloat(w.data[i]) +
                       Bf16ToFloat(b.data[i]);
    }
  }
}

}  // namespace

StatusOr<std::unique_ptr<AudioEncoder>> AudioEncoder::Load(const WeightSource& source,
                                                           const AudioEncoderConfig& c) {
  std::unique_ptr<AudioEncoder> e(new AudioEncoder(c));
  if (c.d_model <= 0 || c.encoder_attention_heads <= 0 ||
      c.d_model % c.encoder_attention_heads != 0 || c.n_window <= 0 || c.num_mel_bins <= 0) {
    return InvalidArgument(fmt::format(
        "audio_config: d_model {} is not a multiple of encoder_attention_heads {}, or n_window {} "
        "/ num_mel_bins {} is not positive",
        c.d_model, c.encoder_attention_heads, c.n_window, c.num_mel_bins));
  }
  const int64_t ds = c.downsample_hidden_size, d = c.d_model, ffn = c.encoder_ffn_dim;
  const int64_t freq = Halve(Halve(Halve(c.num_mel_bins)));
  uint64_t bytes = 0;
  auto load = [&](Bf16Tensor* dst, const std::string& name, std::vector<int64_t> shape) -> Status {
    OMNI_ASSIGN_OR_RETURN(*dst, LoadBf16(source, name, shape));
    bytes += dst->bytes();
    return Status::Ok();
  };
  const AudioTowerNames n = AudioTower();
  OMNI_RETURN_IF_ERROR(load(&e->conv1_w_, n.conv1 + ".weight", {ds, 1, 3, 3}));
  OMNI_RETURN_IF_ERROR(load(&e->conv1_b_, n.conv1 + ".bias", {ds}));
  OMNI_RETURN_IF_ERROR(load(&e->conv2_w_, n.conv2 + ".weight", {ds, ds, 3, 3}));
  OMNI_RETURN_IF_ERROR(load(&e->conv2_b_, n.conv2 + ".bias", {ds}));
  OMNI_RETURN_IF_ERROR(load(&e->conv3_w_, n.conv3 + ".weight", {ds, ds, 3, 3}));
  OMNI_RETURN_IF_ERROR(load(&e->conv3_b_, n.conv3 + ".bias", {ds}));
  OMNI_RETURN_IF_ERROR(load(&e->conv_out_w_, n.conv_out + ".weight", {d, ds * freq}));
  e->layers_.resize(c.encoder_layers);
  for (int64_t l = 0; l < c.encoder_layers; ++l) {
    const AudioLayerNames ln = AudioLayer(l);
    Layer& w = e->layers_[l];
    OMNI_RETURN_IF_ERROR(load(&w.q_w, ln.q_proj + ".weight", {d, d}));
    OMNI_RETURN_IF_ERROR(load(&w.q_b, ln.q_proj + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.k_w, ln.k_proj + ".weight", {d, d}));
    OMNI_RETURN_IF_ERROR(load(&w.k_b, ln.k_proj + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.v_w, ln.v_proj + ".weight", {d, d}));
    OMNI_RETURN_IF_ERROR(load(&w.v_b, ln.v_proj + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.o_w, ln.out_proj + ".weight", {d, d}));
    OMNI_RETURN_IF_ERROR(load(&w.o_b, ln.out_proj + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.attn_norm_w, ln.attn_norm + ".weight", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.attn_norm_b, ln.attn_norm + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.fc1_w, ln.fc1 + ".weight", {ffn, d}));
    OMNI_RETURN_IF_ERROR(load(&w.fc1_b, ln.fc1 + ".bias", {ffn}));
    OMNI_RETURN_IF_ERROR(load(&w.fc2_w, ln.fc2 + ".weight", {d, ffn}));
    OMNI_RETURN_IF_ERROR(load(&w.fc2_b, ln.fc2 + ".bias", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.final_norm_w, ln.final_norm + ".weight", {d}));
    OMNI_RETURN_IF_ERROR(load(&w.final_norm_b, ln.final_norm + ".bias", {d}));
  }
  OMNI_RETURN_IF_ERROR(load(&e->ln_post_w_, n.ln_post + ".weight", {d}));
  OMNI_RETURN_IF_ERROR(load(&e->ln_post_b_, n.ln_post + ".bias", {d}));
  OMNI_RETURN_IF_ERROR(load(&e->proj1_w_, n.proj1 + ".weight", {d, d}));
  OMNI_RETURN_IF_ERROR(load(&e->proj1_b_, n.proj1 + ".bias", {d}));
  OMNI_RETURN_IF_ERROR(load(&e->proj2_w_, n.proj2 + ".weight", {c.output_dim, d}));
  OMNI_RETURN_IF_ERROR(load(&e->proj2_b_, n.proj2 + ".bias", {c.output_dim}));
  e->weight_bytes_ = bytes;

  // SinusoidsPositionEmbedding, in float32 as the reference builds it: channels [sin | cos],
  // inv_timescale[j] = exp(−ln(10000) / (d/2 − 1) · j).
  const int64_t half = d / 2, rows = Halve(Halve(Halve(2 * c.n_window)));
  const float increment = static_cast<float>(std::log(10000.0) / static_cast<double>(half - 1));
  e->positions_.resize(rows * d);
  for (int64_t p = 0; p < rows; ++p) {
    for (int64_t j = 0; j < half; ++j) {
      const float t = static_cast<float>(p) * std::exp(-increment * static_cast<float>(j));
      e->positions_[p * d + j] = std::sin(t);
      e->positions_[p * d + half + j] = std::cos(t);
    }
  }
  return e;
}

void AudioEncoder::Conv(const float* in, int64_t f, int64_t t, int64_t c_in, const Bf16Tensor& w,
                        const Bf16Tensor& b, float* out, ThreadPool* pool) {
  const int64_t fo = Halve(f), to = Halve(t), k = c_in * 9, rows = fo * to;
  float* cols = act_.columns.data();  // [rows, c_in · 9], column c·9 + kh·3 + kw as w's layout
  ForRange(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t fi0 = 2 * (row / to) - 1, ti0 = 2 * (row % to) - 1;
      float* dst = cols + row * k;
      for (int64_t kh = 0; kh < 3; ++kh) {
        for (int64_t kw = 0; kw < 3; ++kw) {
          const int64_t fi = fi0 + kh, ti = ti0 + kw;
          const bool inside = fi >= 0 && fi < f && ti >= 0 && ti < t;
          const float* src = in + (fi * t + ti) * c_in;
          for (int64_t c = 0; c < c_in; ++c) dst[c * 9 + kh * 3 + kw] = inside ? src[c] : 0.0f;
        }
      }
    }
  });
  Linear(cols, rows, k, w, &b, /*gelu=*/true, out, pool);
}

int64_t AudioEncoder::ConvChunk(const MelFeatures& clip, int64_t first, int64_t frames, int64_t pad,
                                int64_t row, ThreadPool* pool) {
  const AudioEncoderConfig& c = config_;
  const int64_t bins = c.num_mel_bins, ds = c.downsample_hidden_size, d = c.d_model;
  // The chunk as a one-channel image [bins, pad] (channel-last with one channel), zero-padded.
  float* chunk = act_.chunk.data();
  for (int64_t b = 0; b < bins; ++b) {
    std::copy_n(clip.data.data() + b * clip.frames + first, frames, chunk + b * pad);
    std::fill(chunk + b * pad + frames, chunk + (b + 1) * pad, 0.0f);
  }
  const int64_t f1 = Halve(bins), f2 = Halve(f1), f3 = Halve(f2);
  const int64_t t1 = Halve(pad), t2 = Halve(t1), t3 = Halve(t2);
  Conv(chunk, bins, pad, 1, conv1_w_, conv1_b_, act_.conv1.data(), pool);            // [f1, t1, ds]
  Conv(act_.conv1.data(), f1, t1, ds, conv2_w_, conv2_b_, act_.conv2.data(), pool);  // [f2, t2, ds]
  Conv(act_.conv2.data(), f2, t2, ds, conv3_w_, conv3_b_, act_.conv3.data(), pool);  // [f3, t3, ds]
  // [f3, t3, ds] → [t3, ds · f3], index c · f3 + f (the reference's permute(0, 3, 1, 2)).
  float* flat = act_.flat.data();
  const float* conv3 = act_.conv3.data();
  for (int64_t f = 0; f < f3; ++f) {
    for (int64_t ti = 0; ti < t3; ++ti) {
      for (int64_t ch = 0; ch < ds; ++ch)
        flat[ti * ds * f3 + ch * f3 + f] = conv3[(f * t3 + ti) * ds + ch];
    }
  }
  float* embed = act_.delta.data();  // [t3, d]
  Linear(flat, t3, ds * f3, conv_out_w_, nullptr, false, embed, pool);
  const int64_t valid = AudioTokenCount(frames, c.n_window);
  for (int64_t p = 0; p < valid; ++p) {
    float* dst = act_.x.data() + (row + p) * d;
    for (int64_t i = 0; i < d; ++i) dst[i] = embed[p * d + i] + positions_[p * d + i];
  }
  return valid;
}

void AudioEncoder::Attention(const Layer& w, int64_t m, ThreadPool* pool) {
  const int64_t d = config_.d_model, heads = config_.encoder_attention_heads;
  const int64_t head_dim = d / heads;
  const float* normed = act_.normed.data();
  float* q = act_.q.data();
  float* k = act_.k.data();
  float* v = act_.v.data();
  Linear(normed, m, d, w.q_w, &w.q_b, false, q, pool);  // [m, d]
  Linear(normed, m, d, w.k_w, &w.k_b, false, k, pool);
  Linear(normed, m, d, w.v_w, &w.v_b, false, v, pool);
  // Every (query, head) job sees the whole window (non-causal); worker `wid` takes a share of
  // the jobs and its own row of scores.
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t jobs = m * heads, workers = act_.workers;
  auto attend = [&](int64_t worker_begin, int64_t worker_end) {
    for (int64_t wid = worker_begin; wid < worker_end; ++wid) {
      float* scores = act_.scores.data() + wid * act_.window;
      for (int64_t job = jobs * wid / workers; job < jobs * (wid + 1) / workers; ++job) {
        const int64_t t = job / heads, h = job % heads;
        const float* qh = q + t * d + h * head_dim;
        for (int64_t j = 0; j < m; ++j)
          scores[j] = ops::Dot(qh, k + j * d + h * head_dim, head_dim) * scale;
        ops::Softmax(scores, m);
        float* o = act_.attn.data() + t * d + h * head_dim;
        std::fill_n(o, head_dim, 0.0f);
        for (int64_t j = 0; j < m; ++j) ops::Axpy(scores[j], v + j * d + h * head_dim, head_dim, o);
      }
    }
  };
  if (pool != nullptr && workers > 1) {
    pool->ParallelFor(workers, attend);
  } else {
    attend(0, workers);
  }
  Linear(act_.attn.data(), m, d, w.o_w, &w.o_b, false, act_.delta.data(), pool);
}

void AudioEncoder::Layers(int64_t m, ThreadPool* pool) {
  const int64_t d = config_.d_model, ffn = config_.encoder_ffn_dim;
  float* x = act_.x.data();
  float* normed = act_.normed.data();
  float* delta = act_.delta.data();
  for (const Layer& w : layers_) {
    LayerNormRows(x, m, d, w.attn_norm_w, w.attn_norm_b, normed);             // normed = LN(x)
    Attention(w, m, pool);                                                    // delta = MHA(normed)
    for (int64_t i = 0; i < m * d; ++i) x[i] += delta[i];                     // x += delta
    LayerNormRows(x, m, d, w.final_norm_w, w.final_norm_b, normed);           // normed = LN(x)
    Linear(normed, m, d, w.fc1_w, &w.fc1_b, true, act_.hidden.data(), pool);  // GELU(fc1)
    Linear(act_.hidden.data(), m, ffn, w.fc2_w, &w.fc2_b, false, delta, pool);  // delta = fc2
    for (int64_t i = 0; i < m * d; ++i) x[i] += delta[i];                       // x += delta
  }
}

Status AudioEncoder::Encode(const std::vector<MelFeatures>& clips, ThreadPool* pool,
                            std::vector<float>* out) {
  const AudioEncoderConfig& c = config_;
  const int64_t chunk_frames = 2 * c.n_window, d = c.d_model, out_dim = c.output_dim;
  const int64_t chunks_per_window = std::max<int64_t>(1, c.n_window_infer / chunk_frames);
  // Every chunk is padded to the longest chunk of all the clips (step 1).
  int64_t pad = 0, total = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    const MelFeatures& clip = clips[i];
    if (clip.bins != c.num_mel_bins || clip.frames <= 0) {
      return InvalidArgument(
          fmt::format("audio clip {}: {} x {} features, the encoder takes {} bins", i, clip.bins,
                      clip.frames, c.num_mel_bins));
    }
    pad = std::max(pad, std::min(clip.frames, chunk_frames));
    total += AudioTokenCount(clip.frames, c.n_window);
  }
  act_.Reserve(c, pad, pool != nullptr ? pool->num_threads() : 1);
  out->resize(total * out_dim);
  int64_t out_row = 0;
  for (const MelFeatures& clip : clips) {
    const int64_t chunks = (clip.frames + chunk_frames - 1) / chunk_frames;
    for (int64_t w0 = 0; w0 < chunks; w0 += chunks_per_window) {
      // One attention window: its chunks' tokens, then every layer over them alone.
      int64_t m = 0;
      for (int64_t ch = w0; ch < std::min(chunks, w0 + chunks_per_window); ++ch) {
        const int64_t first = ch * chunk_frames;
        m += ConvChunk(clip, first, std::min(chunk_frames, clip.frames - first), pad, m, pool);
      }
      Layers(m, pool);
      LayerNormRows(act_.x.data(), m, d, ln_post_w_, ln_post_b_, act_.normed.data());
      Linear(act_.normed.data(), m, d, proj1_w_, &proj1_b_, true, act_.hidden.data(), pool);
      Linear(act_.hidden.data(), m, d, proj2_w_, &proj2_b_, false, out->data() + out_row * out_dim,
             pool);
      out_row += m;
    }
  }
  return Status::Ok();
}

}  // namespace omnisage

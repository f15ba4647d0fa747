#include "speech/code2wav.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/conv_ops.h"
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

std::vector<float> ToFloats(const Bf16Tensor& t) {
  std::vector<float> out(t.data.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = Bf16ToFloat(t.data[i]);
  return out;
}

// x[t, :] += scale ⊙ delta[t, :] for t < rows.
void AddScaled(const float* delta, const std::vector<float>& scale, int64_t rows, float* x) {
  const int64_t c = static_cast<int64_t>(scale.size());
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t i = 0; i < c; ++i) x[t * c + i] += scale[i] * delta[t * c + i];
  }
}

void AddBiasRows(const Bf16Tensor& bias, int64_t rows, float* y) {
  const int64_t c = static_cast<int64_t>(bias.data.size());
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t i = 0; i < c; ++i) y[t * c + i] += Bf16ToFloat(bias.data[i]);
  }
}

template <typename T>
uint64_t Bytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

template <typename T>
void Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) {
    v.reserve(n);  // exactly n: resize alone may double the capacity
    v.resize(n);
  }
}

}  // namespace

void Code2Wav::Signal::Shape(int64_t rows, int64_t channels, int64_t extra_rows) {
  len = rows;
  ch = channels;
  Grow(storage, (kMargin + rows + extra_rows) * channels);
  std::fill_n(storage.data(), kMargin * channels, 0.0f);
}

Code2Wav::Code2Wav(const Code2WavConfig& c)
    : config_(c), rope_(c.head_dim, c.rope_theta, /*mrope_section=*/{}, /*interleaved=*/false) {}

StatusOr<std::unique_ptr<Code2Wav>> Code2Wav::Load(const WeightSource& source,
                                                   const Code2WavConfig& c) {
  if (c.hidden_size <= 0 || c.num_quantizers <= 0 || c.codebook_size <= 0 || c.num_heads <= 0 ||
      c.num_kv_heads <= 0 || c.head_dim <= 0 || c.num_heads % c.num_kv_heads != 0 ||
      c.sliding_window <= 0 || c.decoder_dim <= 0) {
    return InvalidArgument("code2wav_config: incomplete (hidden, quantizers, heads, window)");
  }
  std::unique_ptr<Code2Wav> m(new Code2Wav(c));
  uint64_t bytes = 0;
  auto load = [&](Bf16Tensor* dst, const std::string& name, std::vector<int64_t> shape) -> Status {
    OMNI_ASSIGN_OR_RETURN(*dst, LoadBf16(source, name, shape));
    bytes += dst->bytes();
    return Status::Ok();
  };
  auto floats = [&](std::vector<float>* dst, const std::string& name, int64_t n) -> Status {
    Bf16Tensor t;
    OMNI_RETURN_IF_ERROR(load(&t, name, {n}));
    *dst = ToFloats(t);
    return Status::Ok();
  };
  auto snake = [&](Snake* s, const std::string& prefix, int64_t ch) -> Status {
    std::vector<float> log_alpha, log_beta;
    OMNI_RETURN_IF_ERROR(floats(&log_alpha, prefix + "alpha", ch));
    OMNI_RETURN_IF_ERROR(floats(&log_beta, prefix + "beta", ch));
    s->alpha.resize(ch);
    s->inv_beta.resize(ch);
    for (int64_t i = 0; i < ch; ++i) {  // in float32, as the reference
      s->alpha[i] = std::exp(log_alpha[i]);
      s->inv_beta[i] = 1.0f / (std::exp(log_beta[i]) + 0.000000001f);
    }
    return Status::Ok();
  };
  auto conv = [&](Conv* cv, const std::string& prefix, int64_t c_out, int64_t c_in, int64_t k,
                  int64_t dilation) -> Status {
    OMNI_RETURN_IF_ERROR(load(&cv->weight, prefix + "conv.weight", {c_out, c_in, k}));
    OMNI_RETURN_IF_ERROR(load(&cv->bias, prefix + "conv.bias", {c_out}));
    const LedgerCharge packing(MemoryKind::kDense, cv->weight.bytes());  // the copy, meanwhile
    cv->weight.data = ops::PackConv1dWeight(cv->weight.ptr(), c_out, c_in, k);
    cv->c_in = c_in;
    cv->c_out = c_out;
    cv->k = k;
    cv->dilation = dilation;
    return Status::Ok();
  };
  auto transposed = [&](Bf16Tensor* w, Bf16Tensor* b, const std::string& prefix, int64_t c_in,
                        int64_t c_out, int64_t k) -> Status {
    OMNI_RETURN_IF_ERROR(load(w, prefix + "conv.weight", {c_in, c_out, k}));
    OMNI_RETURN_IF_ERROR(load(b, prefix + "conv.bias", {c_out}));
    const LedgerCharge packing(MemoryKind::kDense, w->bytes());  // the copy, meanwhile
    w->data = ops::PackConvTranspose1dWeight(w->ptr(), c_in, c_out, k);
    return Status::Ok();
  };

  const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  OMNI_RETURN_IF_ERROR(load(&m->embedding_, "code2wav.code_embedding.weight",
                            {c.codebook_size * c.num_quantizers, h}));
  m->layers_.resize(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = fmt::format("code2wav.pre_transformer.layers.{}.", l);
    Layer& w = m->layers_[l];
    OMNI_RETURN_IF_ERROR(load(&w.input_norm, p + "input_layernorm.weight", {h}));
    OMNI_RETURN_IF_ERROR(load(&w.q_proj, p + "self_attn.q_proj.weight", {q_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.k_proj, p + "self_attn.k_proj.weight", {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.v_proj, p + "self_attn.v_proj.weight", {kv_dim, h}));
    OMNI_RETURN_IF_ERROR(load(&w.o_proj, p + "self_attn.o_proj.weight", {h, q_dim}));
    OMNI_RETURN_IF_ERROR(load(&w.post_norm, p + "post_attention_layernorm.weight", {h}));
    OMNI_RETURN_IF_ERROR(load(&w.gate, p + "mlp.gate_proj.weight", {c.intermediate_size, h}));
    OMNI_RETURN_IF_ERROR(load(&w.up, p + "mlp.up_proj.weight", {c.intermediate_size, h}));
    OMNI_RETURN_IF_ERROR(load(&w.down, p + "mlp.down_proj.weight", {h, c.intermediate_size}));
    OMNI_RETURN_IF_ERROR(floats(&w.attn_scale, p + "self_attn_layer_scale.scale", h));
    OMNI_RETURN_IF_ERROR(floats(&w.mlp_scale, p + "mlp_layer_scale.scale", h));
  }
  OMNI_RETURN_IF_ERROR(load(&m->final_norm_, "code2wav.pre_transformer.norm.weight", {h}));
  for (size_t u = 0; u < c.upsampling_ratios.size(); ++u) {
    const std::string p = fmt::format("code2wav.upsample.{}.", u);
    Upsample s;
    s.ratio = c.upsampling_ratios[u];
    OMNI_RETURN_IF_ERROR(transposed(&s.conv, &s.conv_bias, p + "0.", h, h, s.ratio));
    OMNI_RETURN_IF_ERROR(load(&s.dwconv, p + "1.dwconv.conv.weight", {h, 1, 7}));
    OMNI_RETURN_IF_ERROR(load(&s.dwconv_bias, p + "1.dwconv.conv.bias", {h}));
    OMNI_RETURN_IF_ERROR(load(&s.norm, p + "1.norm.weight", {h}));
    OMNI_RETURN_IF_ERROR(load(&s.norm_bias, p + "1.norm.bias", {h}));
    OMNI_RETURN_IF_ERROR(load(&s.pw1, p + "1.pwconv1.weight", {4 * h, h}));
    OMNI_RETURN_IF_ERROR(load(&s.pw1_bias, p + "1.pwconv1.bias", {4 * h}));
    OMNI_RETURN_IF_ERROR(load(&s.pw2, p + "1.pwconv2.weight", {h, 4 * h}));
    OMNI_RETURN_IF_ERROR(load(&s.pw2_bias, p + "1.pwconv2.bias", {h}));
    OMNI_RETURN_IF_ERROR(floats(&s.gamma, p + "1.gamma", h));
    m->upsample_.push_back(std::move(s));
  }
  OMNI_RETURN_IF_ERROR(conv(&m->decoder_in_, "code2wav.decoder.0.", c.decoder_dim, h, 7, 1));
  int64_t ch = c.decoder_dim;
  m->blocks_.resize(c.upsample_rates.size());
  for (size_t d = 0; d < c.upsample_rates.size(); ++d) {
    const std::string p = fmt::format("code2wav.decoder.{}.block.", d + 1);
    Block& b = m->blocks_[d];
    b.rate = c.upsample_rates[d];
    b.c_in = ch;
    b.c_out = ch / 2;
    OMNI_RETURN_IF_ERROR(snake(&b.snake, p + "0.", ch));
    OMNI_RETURN_IF_ERROR(transposed(&b.up, &b.up_bias, p + "1.", ch, b.c_out, 2 * b.rate));
    const int64_t dilations[3] = {1, 3, 9};
    for (int u = 0; u < 3; ++u) {
      const std::string q = fmt::format("{}{}.", p, u + 2);
      ResidualUnit& r = b.units[u];
      OMNI_RETURN_IF_ERROR(snake(&r.act1, q + "act1.", b.c_out));
      OMNI_RETURN_IF_ERROR(conv(&r.conv1, q + "conv1.", b.c_out, b.c_out, 7, dilations[u]));
      OMNI_RETURN_IF_ERROR(snake(&r.act2, q + "act2.", b.c_out));
      OMNI_RETURN_IF_ERROR(conv(&r.conv2, q + "conv2.", b.c_out, b.c_out, 1, 1));
    }
    ch = b.c_out;
  }
  const size_t n = c.upsample_rates.size();
  OMNI_RETURN_IF_ERROR(snake(&m->final_snake_, fmt::format("code2wav.decoder.{}.", n + 1), ch));
  OMNI_RETURN_IF_ERROR(
      conv(&m->decoder_out_, fmt::format("code2wav.decoder.{}.", n + 2), 1, ch, 7, 1));
  m->weight_bytes_ = bytes;
  for (int64_t r : c.upsampling_ratios) m->samples_per_frame_ *= r;
  for (int64_t r : c.upsample_rates) m->samples_per_frame_ *= r;
  return m;
}

Status Code2Wav::Decode(const int32_t* codes, int64_t frames, std::vector<float>* wav,
                        ThreadPool* pool) {
  if (frames < 1) return InvalidArgument("code2wav: no frames to decode");
  const int64_t q = config_.num_quantizers;
  for (int64_t i = 0; i < frames * q; ++i) {
    if (codes[i] < 0 || codes[i] >= config_.codebook_size) {
      return InvalidArgument(
          fmt::format("code2wav: code {} (frame {}, group {}) is outside [0, {})", codes[i], i / q,
                      i % q, config_.codebook_size));
    }
  }
  Embed(codes, frames);
  Transformer(frames, pool);
  const int64_t h = config_.hidden_size;
  cur_.Shape(frames, h);
  std::copy_n(h_.data(), frames * h, cur_.data());
  for (const Upsample& u : upsample_) UpsampleStage(u, pool);
  CausalConv(decoder_in_, cur_, next_, pool);
  std::swap(cur_, next_);
  for (const Block& b : blocks_) DecoderBlock(b, pool);
  ops::SnakeBeta(cur_.data(), cur_.len, cur_.ch, final_snake_.alpha.data(),
                 final_snake_.inv_beta.data(), cur_.data());
  CausalConv(decoder_out_, cur_, next_, pool);  // [len, 1]
  const float* out = next_.data();
  for (int64_t i = 0; i < next_.len; ++i) wav->push_back(std::clamp(out[i], -1.0f, 1.0f));
  Charge();
  return Status::Ok();
}

Status Code2Wav::ChunkedDecode(const int32_t* codes, int64_t frames, int64_t chunk,
                               int64_t left_context, std::vector<float>* wav, ThreadPool* pool) {
  if (chunk < 1 || left_context < 0) {
    return InvalidArgument("code2wav: chunk must be >= 1 and left context >= 0");
  }
  Code2WavStream stream(this, chunk, left_context);
  for (int64_t f = 0; f < frames; ++f) {
    OMNI_RETURN_IF_ERROR(stream.Push(codes + f * config_.num_quantizers, wav, pool));
  }
  return stream.Finish(wav, pool);
}

void Code2Wav::Embed(const int32_t* codes, int64_t frames) {
  const int64_t h = config_.hidden_size, q = config_.num_quantizers;
  Grow(h_, frames * h);
  for (int64_t t = 0; t < frames; ++t) {
    float* row = h_.data() + t * h;
    std::fill_n(row, h, 0.0f);
    for (int64_t g = 0; g < q; ++g) {
      const uint16_t* e = embedding_.ptr() + (codes[t * q + g] + g * config_.codebook_size) * h;
      for (int64_t i = 0; i < h; ++i) row[i] += Bf16ToFloat(e[i]);
    }
    for (int64_t i = 0; i < h; ++i) row[i] /= static_cast<float>(q);
  }
}

void Code2Wav::Transformer(int64_t t, ThreadPool* pool) {
  const Code2WavConfig& c = config_;
  const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim, inter = c.intermediate_size;
  const int64_t half = c.head_dim / 2;
  const int workers = pool != nullptr ? pool->num_threads() : 1;
  Grow(normed_, t * h);
  Grow(q_, t * q_dim);
  Grow(k_, t * kv_dim);
  Grow(v_, t * kv_dim);
  Grow(attn_, t * q_dim);
  Grow(delta_, t * h);
  Grow(gate_, t * inter);
  Grow(up_, t * inter);
  Grow(scores_, workers * c.sliding_window);
  Grow(rope_cos_, t * half);
  Grow(rope_sin_, t * half);
  for (int64_t p = 0; p < t; ++p) {
    rope_.Angles(p, rope_cos_.data() + p * half, rope_sin_.data() + p * half);
  }
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* x = h_.data();
  for (const Layer& w : layers_) {
    for (int64_t r = 0; r < t; ++r) {
      ops::RmsNorm(x + r * h, w.input_norm.ptr(), h, eps, normed_.data() + r * h);
    }
    Attention(w, t, pool);                         // delta = o_proj(attention(normed))
    AddScaled(delta_.data(), w.attn_scale, t, x);  // x += scale ⊙ delta
    for (int64_t r = 0; r < t; ++r) {
      ops::RmsNorm(x + r * h, w.post_norm.ptr(), h, eps, normed_.data() + r * h);
    }
    ops::MatMulBf16(normed_.data(), t, h, w.gate.ptr(), inter, gate_.data(), pool);
    ops::MatMulBf16(normed_.data(), t, h, w.up.ptr(), inter, up_.data(), pool);
    ops::SwiGlu(gate_.data(), up_.data(), t * inter, gate_.data());
    ops::MatMulBf16(gate_.data(), t, inter, w.down.ptr(), h, delta_.data(), pool);
    AddScaled(delta_.data(), w.mlp_scale, t, x);  // x += scale ⊙ SwiGLU(normed)
  }
  for (int64_t r = 0; r < t; ++r) ops::RmsNorm(x + r * h, final_norm_.ptr(), h, eps, x + r * h);
}

// Causal attention over a sliding window: query i sees keys j with i − window < j ≤ i. No q/k
// norm; RoPE on q and k; no KV cache (each window is decoded whole).
void Code2Wav::Attention(const Layer& w, int64_t t, ThreadPool* pool) {
  const Code2WavConfig& c = config_;
  const int64_t h = c.hidden_size, hd = c.head_dim, heads = c.num_heads;
  const int64_t q_dim = heads * hd, kv_dim = c.num_kv_heads * hd, half = hd / 2;
  float* q = q_.data();
  float* k = k_.data();
  ops::MatMulBf16(normed_.data(), t, h, w.q_proj.ptr(), q_dim, q, pool);
  ops::MatMulBf16(normed_.data(), t, h, w.k_proj.ptr(), kv_dim, k, pool);
  ops::MatMulBf16(normed_.data(), t, h, w.v_proj.ptr(), kv_dim, v_.data(), pool);
  for (int64_t p = 0; p < t; ++p) {
    const float* cos = rope_cos_.data() + p * half;
    const float* sin = rope_sin_.data() + p * half;
    for (int64_t i = 0; i < heads; ++i) ops::RopeRotateHalf(q + p * q_dim + i * hd, hd, cos, sin);
    for (int64_t i = 0; i < c.num_kv_heads; ++i) {
      ops::RopeRotateHalf(k + p * kv_dim + i * hd, hd, cos, sin);
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group = heads / c.num_kv_heads, jobs = t * heads, window = c.sliding_window;
  const int workers = pool != nullptr ? pool->num_threads() : 1;
  auto attend = [&](int64_t worker_begin, int64_t worker_end) {
    for (int64_t wid = worker_begin; wid < worker_end; ++wid) {
      float* scores = scores_.data() + wid * window;
      for (int64_t job = jobs * wid / workers; job < jobs * (wid + 1) / workers; ++job) {
        const int64_t i = job / heads, head = job % heads, kv_head = head / group;
        const int64_t first = std::max<int64_t>(0, i - window + 1), len = i - first + 1;
        const float* qh = q + i * q_dim + head * hd;
        for (int64_t j = 0; j < len; ++j) {
          scores[j] = ops::Dot(qh, k + (first + j) * kv_dim + kv_head * hd, hd) * scale;
        }
        ops::Softmax(scores, len);
        float* o = attn_.data() + i * q_dim + head * hd;
        std::fill_n(o, hd, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
          ops::Axpy(scores[j], v_.data() + (first + j) * kv_dim + kv_head * hd, hd, o);
        }
      }
    }
  };
  if (pool != nullptr && workers > 1) {
    pool->ParallelFor(workers, attend);
  } else {
    attend(0, workers);
  }
  ops::MatMulBf16(attn_.data(), t, q_dim, w.o_proj.ptr(), h, delta_.data(), pool);
}

void Code2Wav::UpsampleStage(const Upsample& u, ThreadPool* pool) {
  const int64_t h = config_.hidden_size, len = cur_.len * u.ratio;
  // Transposed convolution with kernel = stride: nothing to trim.
  next_.Shape(len, h);
  ops::ConvTranspose1d(cur_.data(), cur_.len, h, u.conv.ptr(), u.conv_bias.ptr(), h, u.ratio,
                       u.ratio, next_.data(), pool);
  // ConvNeXt block on next_: causal depthwise conv → LayerNorm → Linear ×4 → GELU → Linear →
  // ·gamma → + residual.
  work_a_.Shape(len, h);
  ops::DepthwiseConv1d(next_.data() - 6 * h, len, h, u.dwconv.ptr(), u.dwconv_bias.ptr(), 7,
                       work_a_.data());
  for (int64_t t = 0; t < len; ++t) {
    float* row = work_a_.data() + t * h;
    ops::LayerNorm(row, h, u.norm.ptr(), u.norm_bias.ptr(), 1e-6f, row);
  }
  Grow(wide_, len * 4 * h);
  ops::MatMulBf16(work_a_.data(), len, h, u.pw1.ptr(), 4 * h, wide_.data(), pool);
  AddBiasRows(u.pw1_bias, len, wide_.data());
  ops::Gelu(wide_.data(), len * 4 * h, wide_.data());
  work_b_.Shape(len, h);
  ops::MatMulBf16(wide_.data(), len, 4 * h, u.pw2.ptr(), h, work_b_.data(), pool);
  AddBiasRows(u.pw2_bias, len, work_b_.data());
  AddScaled(work_b_.data(), u.gamma, len, next_.data());
  std::swap(cur_, next_);
}

void Code2Wav::DecoderBlock(const Block& b, ThreadPool* pool) {
  const int64_t r = b.rate;
  ops::SnakeBeta(cur_.data(), cur_.len, b.c_in, b.snake.alpha.data(), b.snake.inv_beta.data(),
                 cur_.data());
  // Causal transposed conv (k = 2r, stride r): of the full (len + 1)·r outputs the first r and
  // the last r are trimmed. The full output is written r rows early (into the margin) with r rows
  // of slack at the end, then the margin is cleared again.
  const int64_t len = (cur_.len - 1) * r;
  next_.Shape(len, b.c_out, /*extra_rows=*/r);
  ops::ConvTranspose1d(cur_.data(), cur_.len, b.c_in, b.up.ptr(), b.up_bias.ptr(), b.c_out, 2 * r,
                       r, next_.data() - r * b.c_out, pool);
  next_.Shape(len, b.c_out);
  std::swap(cur_, next_);
  for (const ResidualUnit& u : b.units) {
    work_a_.Shape(len, b.c_out);
    ops::SnakeBeta(cur_.data(), len, b.c_out, u.act1.alpha.data(), u.act1.inv_beta.data(),
                   work_a_.data());
    CausalConv(u.conv1, work_a_, work_b_, pool);
    ops::SnakeBeta(work_b_.data(), len, b.c_out, u.act2.alpha.data(), u.act2.inv_beta.data(),
                   work_b_.data());
    CausalConv(u.conv2, work_b_, work_a_, pool);
    float* x = cur_.data();
    const float* y = work_a_.data();
    for (int64_t i = 0; i < len * b.c_out; ++i) x[i] += y[i];
  }
}

// Left padding (k − 1)·dilation zeros (read from the margin); with stride 1 the reference adds
// no right padding.
void Code2Wav::CausalConv(const Conv& c, Signal& in, Signal& out, ThreadPool* pool) {
  const int64_t pad = (c.k - 1) * c.dilation;
  out.Shape(in.len, c.c_out);
  ops::Conv1d(in.data() - pad * in.ch, in.len, c.c_in, c.weight.ptr(), c.bias.ptr(), c.c_out, c.k,
              c.dilation, out.data(), pool);
}

uint64_t Code2Wav::ActivationBytesFor(const Code2WavConfig& c, int64_t frames, int workers) {
  const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim, half = c.head_dim / 2;
  // The transformer over the window's frames (Transformer, Embed).
  int64_t floats = frames * (3 * h + 2 * q_dim + 2 * kv_dim + 2 * c.intermediate_size + 2 * half) +
                   int64_t{std::max(1, workers)} * c.sliding_window;
  // The four signals, each at most the largest shape any stage gives one, and the ConvNeXt
  // blocks' wide buffer.
  int64_t len = frames, signal = (kMargin + len) * h, wide = 0;
  for (int64_t r : c.upsampling_ratios) {
    len *= r;
    signal = std::max(signal, (kMargin + len) * h);
    wide = std::max(wide, len * 4 * h);
  }
  int64_t ch = c.decoder_dim;
  signal = std::max(signal, (kMargin + len) * ch);
  for (int64_t r : c.upsample_rates) {
    len = (len - 1) * r;
    ch /= 2;
    signal = std::max(signal, (kMargin + len + r) * ch);
  }
  floats += wide + 4 * signal;
  return static_cast<uint64_t>(floats) * sizeof(float);
}

void Code2Wav::Charge() {
  uint64_t b = 0;
  for (const auto* v : {&h_, &normed_, &q_, &k_, &v_, &attn_, &delta_, &gate_, &up_, &scores_,
                        &rope_cos_, &rope_sin_, &wide_}) {
    b += Bytes(*v);
  }
  for (const Signal* s : {&cur_, &next_, &work_a_, &work_b_}) b += Bytes(s->storage);
  if (b != act_charge_.bytes()) act_charge_ = LedgerCharge(MemoryKind::kActivations, b);
}

Code2WavStream::Code2WavStream(Code2Wav* model, int64_t chunk, int64_t left_context)
    : model_(model),
      chunk_(chunk),
      left_context_(left_context),
      q_(model->config().num_quantizers) {}

Status Code2WavStream::Push(const int32_t* frame, std::vector<float>* out, ThreadPool* pool) {
  codes_.insert(codes_.end(), frame, frame + q_);
  if (frames() - start_ >= chunk_) return DecodeWindow(start_ + chunk_, out, pool);
  return Status::Ok();
}

Status Code2WavStream::Finish(std::vector<float>* out, ThreadPool* pool) {
  if (frames() > start_) return DecodeWindow(frames(), out, pool);
  return Status::Ok();
}

// As chunked_decode: the context is left_context frames, or every earlier frame when fewer.
Status Code2WavStream::DecodeWindow(int64_t end, std::vector<float>* out, ThreadPool* pool) {
  const int64_t context = start_ - left_context_ > 0 ? left_context_ : start_;
  window_.clear();
  OMNI_RETURN_IF_ERROR(model_->Decode(codes_.data() + (start_ - context) * q_,
                                      end - start_ + context, &window_, pool));
  const int64_t drop = std::min<int64_t>(context * model_->samples_per_frame(),
                                         static_cast<int64_t>(window_.size()));
  out->insert(out->end(), window_.begin() + drop, window_.end());
  start_ = end;
  return Status::Ok();
}

}  // namespace omnisage

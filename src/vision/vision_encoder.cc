#include "vision/vision_encoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "model/tensor_table.h"
#include "ops/conv_ops.h"  // LayerNorm, Gelu (exact)
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"
#include "vision/vision_attention.h"
#include "vision/vision_matmul.h"

namespace omnisage {
namespace {

constexpr float kLayerNormEps = 1e-6f;
constexpr float kRopeTheta = 10000.0f;

enum class Act { kNone, kGeluTanh, kGelu };

// gelu_pytorch_tanh as torch computes it in float32.
float GeluTanh(float x) {
  constexpr float kBeta = 0.7978845608028654f;  // √(2/π)
  constexpr float kKappa = 0.044715f;
  const float inner = kBeta * (x + kKappa * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(inner));
}

template <typename F>
void ForRange(ThreadPool* pool, int64_t n, const F& fn) {
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, fn);
  } else {
    fn(0, n);
  }
}

// y[r, :] = act(x[r, :] · Wᵀ + b) for r < rows.
void Linear(const float* x, int64_t rows, int64_t in, const Bf16Tensor& w, const Bf16Tensor& b,
            Act act, float* y, ThreadPool* pool) {
  const int64_t out = w.shape[0];
  VisionMatMul(x, rows, in, w.ptr(), out, y, pool);
  ForRange(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = y + r * out;
      for (int64_t o = 0; o < out; ++o) row[o] += Bf16ToFloat(b.data[o]);
      if (act == Act::kGeluTanh) {
        for (int64_t o = 0; o < out; ++o) row[o] = GeluTanh(row[o]);
      } else if (act == Act::kGelu) {
        ops::Gelu(row, out, row);
      }
    }
  });
}

void LayerNormRows(const float* x, int64_t rows, int64_t dim, const Bf16Tensor& w,
                   const Bf16Tensor& b, float* y, ThreadPool* pool) {
  ForRange(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      ops::LayerNorm(x + r * dim, dim, w.ptr(), b.ptr(), kLayerNormEps, y + r * dim);
    }
  });
}

// transformers' _interpolation_axis_taps_weights (bilinear, align_corners) for one index, in
// float32 as the reference: two taps into a table side `side` and their weights.
void AxisTaps(int64_t index, int64_t size, int64_t side, int64_t taps[2], float weights[2]) {
  const float src = static_cast<float>(index) * static_cast<float>(side - 1) /
                    static_cast<float>(std::max<int64_t>(size - 1, 1));
  const float floor = std::floor(src);
  for (int o = 0; o < 2; ++o) {
    taps[o] = std::clamp<int64_t>(static_cast<int64_t>(floor) + o, 0, side - 1);
    const float distance = std::fabs(src - floor - static_cast<float>(o));
    weights[o] = std::max(1.0f - distance, 0.0f);
  }
}

}  // namespace

StatusOr<std::unique_ptr<VisionEncoder>> VisionEncoder::Load(const WeightSource& source,
                                                             const VisionEncoderConfig& c) {
  std::unique_ptr<VisionEncoder> e(new VisionEncoder(c));
  if (c.hidden_size <= 0 || c.num_heads <= 0 || c.hidden_size % c.num_heads != 0 ||
      (c.hidden_size / c.num_heads) % 4 != 0) {
    return InvalidArgument(fmt::format(
        "vision_config: hidden_size {} is not num_heads {} × a head_dim that is a multiple of 4",
        c.hidden_size, c.num_heads));
  }
  int64_t side = 0;
  while ((side + 1) * (side + 1) <= c.num_position_embeddings) ++side;
  if (side < 1 || side * side != c.num_position_embeddings) {
    return InvalidArgument(fmt::format("vision_config: num_position_embeddings {} is not a square",
                                       c.num_position_embeddings));
  }
  if (c.spatial_merge_size <= 0 || c.patch_size <= 0 || c.temporal_patch_size <= 0 ||
      c.in_channels <= 0 || c.out_hidden_size <= 0 || c.intermediate_size <= 0 || c.depth < 0) {
    return InvalidArgument(
        "vision_config: spatial_merge_size, patch_size, temporal_patch_size, in_channels, "
        "out_hidden_size, intermediate_size must be positive");
  }
  for (int64_t index : c.deepstack_visual_indexes) {
    if (index < 0 || index >= c.depth) {
      return InvalidArgument(
          fmt::format("vision_config: deepstack_visual_indexes holds {}, outside the {} blocks",
                      index, c.depth));
    }
  }
  const int64_t h = c.hidden_size, group = c.spatial_merge_size * c.spatial_merge_size;
  const int64_t merged = h * group;
  e->side_ = side;
  e->head_dim_ = h / c.num_heads;
  e->patch_dim_ = c.in_channels * c.temporal_patch_size * c.patch_size * c.patch_size;
  uint64_t bytes = 0;
  auto load = [&](Bf16Tensor* dst, const std::string& name, std::vector<int64_t> shape) -> Status {
    OMNI_ASSIGN_OR_RETURN(*dst, LoadBf16(source, name, shape));
    bytes += dst->bytes();
    return Status::Ok();
  };
  const VisionTowerNames n = VisionTower();
  OMNI_RETURN_IF_ERROR(load(&e->patch_w_, n.patch_embed + ".weight",
                            {h, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}));
  OMNI_RETURN_IF_ERROR(load(&e->patch_b_, n.patch_embed + ".bias", {h}));
  {
    Bf16Tensor table;
    OMNI_ASSIGN_OR_RETURN(table, LoadBf16(source, n.pos_embed + ".weight", {side * side, h}));
    e->pos_table_.resize(table.data.size());
    e->pos_table_charge_ = LedgerCharge(MemoryKind::kDense, e->pos_table_.size() * sizeof(float));
    for (size_t i = 0; i < table.data.size(); ++i) e->pos_table_[i] = Bf16ToFloat(table.data[i]);
  }
  e->blocks_.resize(c.depth);
  for (int64_t i = 0; i < c.depth; ++i) {
    const VisionBlockNames q = VisionBlock(i);
    Block& b = e->blocks_[i];
    OMNI_RETURN_IF_ERROR(load(&b.norm1_w, q.norm1 + ".weight", {h}));
    OMNI_RETURN_IF_ERROR(load(&b.norm1_b, q.norm1 + ".bias", {h}));
    OMNI_RETURN_IF_ERROR(load(&b.qkv_w, q.qkv + ".weight", {3 * h, h}));
    OMNI_RETURN_IF_ERROR(load(&b.qkv_b, q.qkv + ".bias", {3 * h}));
    OMNI_RETURN_IF_ERROR(load(&b.proj_w, q.proj + ".weight", {h, h}));
    OMNI_RETURN_IF_ERROR(load(&b.proj_b, q.proj + ".bias", {h}));
    OMNI_RETURN_IF_ERROR(load(&b.norm2_w, q.norm2 + ".weight", {h}));
    OMNI_RETURN_IF_ERROR(load(&b.norm2_b, q.norm2 + ".bias", {h}));
    OMNI_RETURN_IF_ERROR(load(&b.fc1_w, q.fc1 + ".weight", {c.intermediate_size, h}));
    OMNI_RETURN_IF_ERROR(load(&b.fc1_b, q.fc1 + ".bias", {c.intermediate_size}));
    OMNI_RETURN_IF_ERROR(load(&b.fc2_w, q.fc2 + ".weight", {h, c.intermediate_size}));
    OMNI_RETURN_IF_ERROR(load(&b.fc2_b, q.fc2 + ".bias", {h}));
  }
  auto load_merger = [&](Merger* g, int64_t k) -> Status {
    const VisionMergerNames q = VisionMerger(k);
    g->postshuffle = k >= 0;
    const int64_t ln = g->postshuffle ? merged : h;
    OMNI_RETURN_IF_ERROR(load(&g->ln_w, q.ln_q + ".weight", {ln}));
    OMNI_RETURN_IF_ERROR(load(&g->ln_b, q.ln_q + ".bias", {ln}));
    OMNI_RETURN_IF_ERROR(load(&g->fc1_w, q.fc1 + ".weight", {merged, merged}));
    OMNI_RETURN_IF_ERROR(load(&g->fc1_b, q.fc1 + ".bias", {merged}));
    OMNI_RETURN_IF_ERROR(load(&g->fc2_w, q.fc2 + ".weight", {c.out_hidden_size, merged}));
    OMNI_RETURN_IF_ERROR(load(&g->fc2_b, q.fc2 + ".bias", {c.out_hidden_size}));
    return Status::Ok();
  };
  OMNI_RETURN_IF_ERROR(load_merger(&e->merger_, -1));
  e->deepstack_.resize(c.deepstack_visual_indexes.size());
  for (size_t k = 0; k < e->deepstack_.size(); ++k) {
    OMNI_RETURN_IF_ERROR(load_merger(&e->deepstack_[k], static_cast<int64_t>(k)));
  }
  // The reference walks the blocks in order and, after a listed one, applies that entry's merger:
  // levels come in block order.
  e->level_of_block_.assign(c.depth, -1);
  for (int64_t b = 0; b < c.depth; ++b) {
    const auto& idx = c.deepstack_visual_indexes;
    const auto it = std::find(idx.begin(), idx.end(), b);
    if (it == idx.end()) continue;
    e->level_of_block_[b] = static_cast<int>(e->merger_of_level_.size());
    e->merger_of_level_.push_back(static_cast<int>(it - idx.begin()));
  }
  // Axial rotary frequencies over head_dim / 2 per axis, as the reference builds them in float32.
  const int64_t spatial = e->head_dim_ / 2;
  for (int64_t i = 0; i < spatial; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(spatial);
    e->inv_freq_.push_back(1.0f / std::pow(kRopeTheta, exponent));
  }
  e->weight_bytes_ = bytes;
  return e;
}

int64_t VisionEncoder::TokenCount(const MediaGrid& g) const {
  const int64_t group = config_.spatial_merge_size * config_.spatial_merge_size;
  return g.t * g.h * g.w / group;
}

void VisionEncoder::Embed(const float* patches, int64_t h, int64_t w, ThreadPool* pool) {
  const int64_t hidden = config_.hidden_size, ms = config_.spatial_merge_size, m = h * w;
  const int64_t hd = head_dim_, quarter = hd / 4;
  float* x = act_.x.data();
  Linear(patches, m, patch_dim_, patch_w_, patch_b_, Act::kNone, x, pool);
  ForRange(pool, m, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      // Merge-block order: (block row, block column, row in block, column in block).
      const int64_t in_col = j % ms, in_row = (j / ms) % ms;
      const int64_t block_col = (j / (ms * ms)) % (w / ms), block_row = j / (ms * ms * (w / ms));
      const int64_t row = block_row * ms + in_row, col = block_col * ms + in_col;
      int64_t ht[2], wt[2];
      float hw[2], ww[2];
      AxisTaps(row, h, side_, ht, hw);
      AxisTaps(col, w, side_, wt, ww);
      float* xr = x + j * hidden;
      for (int64_t i = 0; i < hidden; ++i) {
        float pos = 0;
        for (int a = 0; a < 2; ++a) {
          for (int b = 0; b < 2; ++b) {
            pos += pos_table_[(ht[a] * side_ + wt[b]) * hidden + i] * (hw[a] * ww[b]);
          }
        }
        xr[i] += pos;
      }
      // Rotary angles: row frequencies, then column frequencies; cos then sin.
      float* cs = act_.rope.data() + j * hd;
      for (int64_t f = 0; f < quarter; ++f) {
        const float ar = static_cast<float>(row) * inv_freq_[f];
        const float ac = static_cast<float>(col) * inv_freq_[f];
        cs[f] = std::cos(ar);
        cs[quarter + f] = std::cos(ac);
        cs[2 * quarter + f] = std::sin(ar);
        cs[3 * quarter + f] = std::sin(ac);
      }
    }
  });
}

void VisionEncoder::Attention(int64_t m, ThreadPool* pool) {
  const int64_t h = config_.hidden_size, heads = config_.num_heads, hd = head_dim_;
  const int64_t stride = 3 * h;
  float* qkv = act_.qkv.data();
  // Rotate q and k of every head (fp32, rotate_half).
  ForRange(pool, m, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* cs = act_.rope.data() + t * hd;
      for (int64_t i = 0; i < heads; ++i) {
        ops::RopeRotateHalf(qkv + t * stride + i * hd, hd, cs, cs + hd / 2);
        ops::RopeRotateHalf(qkv + t * stride + h + i * hd, hd, cs, cs + hd / 2);
      }
    }
  });
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Jobs are (head, block of queries), head-major, split into one contiguous range per worker: a
  // worker packs a head's keys and values once for all its blocks of that head.
  const HeadAttentionSizes sizes = HeadAttentionSizes::For(m, hd);
  const int64_t blocks = (m + kAttentionBlock - 1) / kAttentionBlock;
  const int64_t jobs = blocks * heads, workers = act_.workers;
  float* out = act_.normed.data();  // [m, h], head-major within a row like the reference
  auto attend = [&](int64_t worker_begin, int64_t worker_end) {
    for (int64_t wid = worker_begin; wid < worker_end; ++wid) {
      float* kt = act_.attention.data() + wid * act_.attention_per_worker;
      float* vp = kt + sizes.kt();
      float* scores = vp + sizes.vp(m);
      float* acc = scores + kAttentionBlock * sizes.m_pad;
      int64_t packed = -1;
      for (int64_t job = jobs * wid / workers; job < jobs * (wid + 1) / workers; ++job) {
        const int64_t i = job / blocks, t0 = job % blocks * kAttentionBlock;
        if (i != packed) {
          PackAttentionHead(qkv + h + i * hd, qkv + 2 * h + i * hd, stride, m, hd, sizes, kt, vp);
          packed = i;
        }
        AttendPackedHead(qkv + t0 * stride + i * hd, stride, std::min(kAttentionBlock, m - t0), kt,
                         vp, m, hd, sizes, scale, scores, acc, out + t0 * h + i * hd, h);
      }
    }
  };
  if (pool != nullptr && workers > 1) {
    pool->ParallelFor(workers, attend);
  } else {
    attend(0, workers);
  }
}

void VisionEncoder::RunBlock(const Block& b, int64_t m, ThreadPool* pool) {
  const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
  constexpr int64_t kRows = VisionEncoderActivations::kRows;
  float* x = act_.x.data();
  float* normed = act_.normed.data();
  float* delta = act_.delta.data();
  LayerNormRows(x, m, h, b.norm1_w, b.norm1_b, normed, pool);                 // LN1(x)
  Linear(normed, m, h, b.qkv_w, b.qkv_b, Act::kNone, act_.qkv.data(), pool);  // q|k|v
  Attention(m, pool);                                                         // normed = attn
  for (int64_t r = 0; r < m; r += kRows) {
    const int64_t rows = std::min(kRows, m - r);
    Linear(normed + r * h, rows, h, b.proj_w, b.proj_b, Act::kNone, delta, pool);  // proj
    ops::Axpy(1.0f, delta, rows * h, x + r * h);                                   // x += delta
  }
  for (int64_t r = 0; r < m; r += kRows) {
    const int64_t rows = std::min(kRows, m - r);
    float* nr = normed + r * h;
    LayerNormRows(x + r * h, rows, h, b.norm2_w, b.norm2_b, nr, pool);                   // LN2(x)
    Linear(nr, rows, h, b.fc1_w, b.fc1_b, Act::kGeluTanh, act_.hidden.data(), pool);     // fc1
    Linear(act_.hidden.data(), rows, inter, b.fc2_w, b.fc2_b, Act::kNone, delta, pool);  // fc2
    ops::Axpy(1.0f, delta, rows * h, x + r * h);  // x += delta
  }
}

void VisionEncoder::RunMerger(const Merger& g, int64_t m, float* out, ThreadPool* pool) {
  const int64_t h = config_.hidden_size,
                group = config_.spatial_merge_size * config_.spatial_merge_size;
  const int64_t merged = h * group, width = config_.out_hidden_size;
  constexpr int64_t kRows = VisionEncoderActivations::kRows;
  float* in = act_.merged.data();
  for (int64_t r = 0; r < m; r += kRows) {
    const int64_t rows = std::min(kRows, m - r), groups = rows / group;
    const float* x = act_.x.data() + r * h;
    if (g.postshuffle) {
      LayerNormRows(x, groups, merged, g.ln_w, g.ln_b, in, pool);  // LN over each group
    } else {
      LayerNormRows(x, rows, h, g.ln_w, g.ln_b, in, pool);  // LN per patch, then grouped
    }
    Linear(in, groups, merged, g.fc1_w, g.fc1_b, Act::kGelu, act_.hidden.data(), pool);
    Linear(act_.hidden.data(), groups, merged, g.fc2_w, g.fc2_b, Act::kNone,
           out + (r / group) * width, pool);
  }
}

Status VisionEncoder::Encode(const float* patches, int64_t num_patches,
                             const std::vector<MediaGrid>& grids, ThreadPool* pool,
                             VisionFeatures* out) {
  const int64_t ms = config_.spatial_merge_size, width = config_.out_hidden_size;
  int64_t total = 0, tokens = 0, frame = 0;
  for (size_t i = 0; i < grids.size(); ++i) {
    const MediaGrid& g = grids[i];
    if (g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % ms != 0 || g.w % ms != 0) {
      return InvalidArgument(fmt::format(
          "vision item {}: grid (t {}, h {}, w {}) is not positive multiples of the merge size {}",
          i, g.t, g.h, g.w, ms));
    }
    total += g.t * g.h * g.w;
    tokens += TokenCount(g);
    frame = std::max(frame, g.h * g.w);
  }
  if (total != num_patches) {
    return InvalidArgument(
        fmt::format("vision: the grids hold {} patches but {} were given", total, num_patches));
  }
  act_.Reserve(config_, frame, pool != nullptr ? pool->num_threads() : 1);
  out->tokens = tokens;
  out->width = width;
  out->levels = static_cast<int>(merger_of_level_.size());
  out->embeds.assign(tokens * width, 0.0f);
  out->deepstack.assign(out->levels * tokens * width, 0.0f);
  int64_t patch = 0, token = 0;
  for (const MediaGrid& g : grids) {
    const int64_t m = g.h * g.w;
    for (int64_t t = 0; t < g.t; ++t) {
      Embed(patches + patch * patch_dim_, g.h, g.w, pool);  // x = patches · W + pos; rotary
      for (size_t b = 0; b < blocks_.size(); ++b) {
        RunBlock(blocks_[b], m, pool);
        const int level = level_of_block_[b];
        if (level < 0) continue;
        RunMerger(deepstack_[merger_of_level_[level]], m,
                  out->deepstack.data() + (level * tokens + token) * width, pool);
      }
      RunMerger(merger_, m, out->embeds.data() + token * width, pool);
      patch += m;
      token += m / (ms * ms);
    }
  }
  return Status::Ok();
}

}  // namespace omnisage

// The vision encoder of the Qwen3-Omni thinker (spec §7.2): image or video patches in, one
// embedding of the thinker's width per merged 2×2 patch group (one <|image_pad|> / <|video_pad|>
// token) out, plus the deepstack features the thinker adds after its first decoder layers
// (spec §7.3). As transformers' Qwen3OmniMoeVisionEncoder:
//
//   1. patch_embed: Conv3d with kernel = stride = (temporal_patch, patch, patch), i.e. a Linear
//      3·2·16·16 = 1536 → hidden with bias over each flattened patch;
//   2. + the learned absolute position table (side × side, side² = num_position_embeddings)
//      resampled bilinearly, align-corners, to the frame's (grid_h, grid_w), in merge-block order,
//      the same for every frame;
//   3. 2-D rotary embedding in float32: head_dim/4 frequencies 10000^(−2i/(head_dim/2)); the
//      angles cat(row · inv, col · inv), duplicated (rotate_half), row/col of the un-merged grid;
//   4. `depth` pre-LN blocks (LayerNorm eps 1e-6): x += proj(attention(LN(x))) with fused qkv,
//      non-causal, restricted to one temporal frame; x += fc2(gelu_tanh(fc1(LN(x))));
//   5. after block deepstack_visual_indexes[k]: merger_list[k] — groups of 4 consecutive patches
//      viewed as [4·hidden] → LayerNorm → Linear → GELU (exact) → Linear → out_hidden_size;
//   6. merger: LayerNorm(hidden) per patch → groups of 4 → Linear → GELU → Linear.
//
// Frames are independent through every step (attention never crosses a frame), so Encode runs
// one frame at a time: the activations (vision_activations.h) are bounded by the largest frame,
// not by the number of images or video frames. Weights are bf16 as in the checkpoint, charged to
// the memory ledger; matmuls run on ops::MatMulBf16 over the thread pool; activations in float32.
//
// Not thread-safe: one Encode at a time (it parallelises internally over `pool`).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/rope_index.h"  // MediaGrid
#include "model/weights.h"
#include "util/memory_ledger.h"
#include "util/status.h"
#include "vision/vision_activations.h"

namespace omnisage {

class ThreadPool;

// What Encode writes: rows in the order of the grids, frame after frame, merge group after group
// (the order of the placeholders in the prompt).
struct VisionFeatures {
  int64_t tokens = 0;         // Σ t·h·w / merge²
  int64_t width = 0;          // out_hidden_size
  std::vector<float> embeds;  // [tokens, width]  the final merger's output
  // [levels, tokens, width]: the deepstack mergers' outputs, level k after the k-th listed block
  // in block order (what the thinker adds after decoder layer k).
  std::vector<float> deepstack;
  int levels = 0;

  const float* level(int k) const { return deepstack.data() + k * tokens * width; }
};

class VisionEncoder {
 public:
  // Loads thinker.visual.* from `source`, checked against `config`'s shapes. Errors also: a
  // hidden size not divisible by the heads (or head_dim not a multiple of 4), a position table
  // that is not square, a deepstack index outside the blocks.
  static StatusOr<std::unique_ptr<VisionEncoder>> Load(const WeightSource& source,
                                                       const VisionEncoderConfig& config);

  // Merged tokens of one grid: t · h · w / spatial_merge_size².
  int64_t TokenCount(const MediaGrid& grid) const;

  // Encodes the patches of one or more images/videos: `patches` [Σ t·h·w, patch_dim] in the
  // image processor's order (frame after frame, merge-block order within a frame), `grids` one
  // per item. Errors: a grid whose h or w is not a multiple of the merge size, or whose patch
  // count disagrees with `num_patches` (nothing is written).
  Status Encode(const float* patches, int64_t num_patches, const std::vector<MediaGrid>& grids,
                ThreadPool* pool, VisionFeatures* out);

  const VisionEncoderConfig& config() const { return config_; }
  int64_t patch_dim() const { return patch_dim_; }
  // Bytes of the weights held.
  uint64_t weight_bytes() const { return weight_bytes_; }
  VisionEncoderActivations& activations() { return act_; }

 private:
  struct Block {
    Bf16Tensor norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
    Bf16Tensor norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  struct Merger {
    Bf16Tensor ln_w, ln_b, fc1_w, fc1_b, fc2_w, fc2_b;
    bool postshuffle = false;  // LayerNorm over the 4·hidden group (deepstack), else per patch
  };
  explicit VisionEncoder(const VisionEncoderConfig& c) : config_(c) {}

  // act_.x = patch_embed(patches) + the position table resampled to (h, w); act_.rope = the
  // frame's rotary cos/sin.
  void Embed(const float* patches, int64_t h, int64_t w, ThreadPool* pool);
  // One block over the frame of m patches in act_.x.
  void RunBlock(const Block& b, int64_t m, ThreadPool* pool);
  void Attention(int64_t m, ThreadPool* pool);
  // out [m/4, out_hidden] = merger(act_.x [m, hidden]).
  void RunMerger(const Merger& g, int64_t m, float* out, ThreadPool* pool);

  VisionEncoderConfig config_;
  int64_t patch_dim_ = 0, side_ = 0, head_dim_ = 0;
  Bf16Tensor patch_w_, patch_b_;
  std::vector<float> pos_table_;   // [side², hidden] the learned table in float32
  LedgerCharge pos_table_charge_;  // kDense: pos_table_
  std::vector<float> inv_freq_;    // [head_dim / 4]
  std::vector<Block> blocks_;
  Merger merger_;
  std::vector<Merger> deepstack_;     // merger_list, in the config's order
  std::vector<int> level_of_block_;   // [depth]: the deepstack level after block b, or -1
  std::vector<int> merger_of_level_;  // [levels]: the merger_list entry of each level
  uint64_t weight_bytes_ = 0;
  VisionEncoderActivations act_;
};

}  // namespace omnisage

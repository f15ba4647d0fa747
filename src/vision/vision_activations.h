// VisionEncoderActivations: every buffer one VisionEncoder::Encode touches, each with its shape.
//
// Attention is restricted to one temporal frame (spec §7.2), and everything else in the encoder
// works per patch or per 2×2 merge group, so frames are independent from the patch embedding to
// the mergers: the encoder runs one frame at a time and the buffers hold one frame (`frame`
// patches = grid_h · grid_w), whatever the number of images or frames. Within a frame the MLP and
// the output projection run over `rows` patches at a time, so only the frame-sized residual
// stream, LayerNorm/attention output and fused q|k|v scale with the image:
//
//   bytes ≈ 4 · frame · (5 · hidden) + 4 · rows · (intermediate + hidden)
//           + 4 · workers · frame · (2 · head_dim + 32)
//
// (the last term: each attention worker's packed keys and values of one head and the scores of a
// block of 32 queries, vision/vision_attention.h; ≈ 21 · frame · hidden bytes for large frames at
// 2 workers: 90 MiB for a 1280×720 image at hidden 1152, 1.17 GiB at the processor's largest frame
// of 12,845,056 pixels = 50,176 patches).
// Sized by Reserve, never shrunk; charged to the MemoryLedger as kActivations while held.
//
// Not thread-safe: owned by one encoder (attention's scratch has one slice per worker).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "util/memory_ledger.h"

namespace omnisage {

struct VisionEncoderActivations {
  // Patches per row chunk of the MLP, the output projection and the mergers' inputs.
  static constexpr int64_t kRows = 256;

  // Sizes for frames of up to `frame` patches, `workers` attention threads.
  void Reserve(const VisionEncoderConfig& config, int64_t frame, int workers);
  uint64_t bytes() const { return bytes_; }
  // What Reserve would hold for these sizes (the estimate above, exactly).
  static uint64_t BytesFor(const VisionEncoderConfig& config, int64_t frame, int workers);

  int64_t frame = 0;  // patches per frame the buffers hold
  int workers = 0;

  std::vector<float> x;       // [frame, hidden]      the residual stream
  std::vector<float> normed;  // [frame, hidden]      LayerNorm(x); then the attention output
  std::vector<float> qkv;     // [frame, 3 · hidden]  fused q | k | v, rotated q and k
  std::vector<float> rope;    // [frame, head_dim]    cos | sin halves: cos[0..hd/2), sin[..]
  std::vector<float> delta;   // [rows, hidden]       a chunk's projection / fc2 output
  std::vector<float> hidden;  // [rows, max(intermediate, 4·hidden)]  fc1 → GELU; merger hidden
  std::vector<float> merged;  // [rows / 4, 4 · hidden]  a chunk of merge groups, LayerNormed
  // [workers, attention_per_worker]: per worker one head's packed keys (kt) and values (vp), the
  // scores of a block of queries and their output accumulators (vision/vision_attention.h).
  std::vector<float> attention;
  int64_t attention_per_worker = 0;

 private:
  uint64_t bytes_ = 0;
  LedgerCharge charge_;  // kActivations, bytes_
};

}  // namespace omnisage

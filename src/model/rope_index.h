// Rotary positions of a multimodal prompt: one (t, h, w) triple per token, computed as
// transformers' Qwen3-Omni get_rope_index does (spec §5):
//
//   text, <|audio_start|>, <|vision_start|>, <|…_end|>   t = h = w = a running index
//   audio tokens (<|audio_pad|>)                         running, like text
//   an image's tokens (grid t·h·w patches, merged m×m)   t = 0·pps, h = row, w = column of the
//                                                       merged grid, all + the index after
//                                                       <|vision_start|>
//   a video's                                            t = frame group · seconds_per_grid · pps
//   audio inside a video (use_audio_in_video)            video and audio tokens interleaved by t
//   after a block                                        the next index = that block's max + 1
//
// (pps = position_id_per_seconds, 13 in the real config.) Without images or videos every axis
// holds the token's index: ordinary 1-D RoPE, as for text. The reference computes positions in
// float32 (video t can be fractional); so does this. A prompt that continues a sequence starts at
// `start` = the next position of that sequence (cache length + delta); the reference's first
// prompt starts at 0.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/media_tokens.h"
#include "util/status.h"

namespace omnisage {

// An image's or video's patch grid before merging (transformers' image_grid_thw row).
struct MediaGrid {
  int64_t t = 1, h = 0, w = 0;
};

// What get_rope_index needs besides the ids, per media item in prompt order.
struct RopeIndexMedia {
  std::vector<int64_t> audio_frames;  // log-mel frames of each audio (audio_seqlens)
  std::vector<MediaGrid> images;
  std::vector<MediaGrid> videos;
  std::vector<double> video_seconds_per_grid;  // per video: temporal_patch_size / fps
  bool use_audio_in_video = false;
};

struct RopePositions {
  std::vector<float> thw;  // [n, 3]: t, h, w of each token
  // The largest position + 1: where the tokens after the prompt continue (on every axis). The
  // reference's rope_deltas is next − (the sequence's length); 0 for text and audio.
  float next = 0;
};

// `spatial_merge_size` from the vision config, `n_window` from the audio config. Errors: a media
// item the ids hold but `media` lacks (or the reverse), naming the item.
StatusOr<RopePositions> GetRopeIndex(const std::vector<int32_t>& ids, const ModelConfig& config,
                                     const RopeIndexMedia& media, float start = 0);

}  // namespace omnisage

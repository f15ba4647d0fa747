// How many placeholder tokens a media item takes in the thinker's prompt (spec §6.2, §7.1): the
// processor repeats each item's single pad token (<|audio_pad|>, <|image_pad|>, <|video_pad|>)
// this many times, one per encoder output row. Pure functions.
#pragma once

#include <cstdint>
#include <vector>

namespace omnisage {

// Audio tokens for a clip of `mel_frames` log-mel frames: 13 per full chunk of 2·n_window frames
// plus the three stride-2 halvings of the remainder (transformers'
// _get_feat_extract_output_lengths).
int64_t AudioTokenCount(int64_t mel_frames, int64_t n_window = 50);

// The placeholders of a video heard with its own sound (use_audio_in_video), in prompt order
// between <|vision_start|><|audio_start|> and <|audio_end|><|vision_end|>, as
// Qwen3OmniMoeProcessor.replace_video_with_audio_token lays them out: true for a <|video_pad|>,
// false for an <|audio_pad|>. Video token k of frame group t sits at time
// t · second_per_grid · position_id_per_seconds (in double, as the processor's numpy), audio
// token j at j; a video token goes first while its time ≤ the next audio token's, and what is
// left of either follows. `grid_*` is the video's patch grid (before merging by `merge`).
std::vector<bool> AudioInVideoOrder(int64_t grid_t, int64_t grid_h, int64_t grid_w, int64_t merge,
                                    double second_per_grid, double position_id_per_seconds,
                                    int64_t audio_tokens);

}  // namespace omnisage

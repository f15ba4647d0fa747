// How many placeholder tokens a media item takes in the thinker's prompt (spec §6.2, §7.1): the
// processor repeats each item's single pad token (<|audio_pad|>, <|image_pad|>, <|video_pad|>)
// this many times, one per encoder output row. Pure functions.
#pragma once

#include <cstdint>

namespace omnisage {

// Audio tokens for a clip of `mel_frames` log-mel frames: 13 per full chunk of 2·n_window frames
// plus the three stride-2 halvings of the remainder (transformers'
// _get_feat_extract_output_lengths).
int64_t AudioTokenCount(int64_t mel_frames, int64_t n_window = 50);

}  // namespace omnisage

// Prompts that carry audio, images and videos: what a front end hands a Session, and how it is
// made ready for the thinker (spec §5, §6, §7), as transformers' Qwen3OmniMoeProcessor and
// thinker do it:
//
//   1. the prompt's ids hold one <|audio_pad|> per clip, between <|audio_start|> and <|audio_end|>,
//      one <|image_pad|> per image and one <|video_pad|> per video, between <|vision_start|> and
//      <|vision_end|>, as the chat template renders a message's media parts (runtime/messages.h);
//   2. the clips (16 kHz mono, media/audio_file.h) — and, with use_audio_in_video, each video's
//      own sound track, in prompt order — become log-mel features together, as the reference
//      processor batches one prompt's audio (audio/log_mel.h); each image (8-bit RGB,
//      media/image_file.h) becomes patches through the image processor (vision/image_processor.h)
//      with the model's preprocessor_config.json; each video is decoded frame by frame and
//      becomes patches through the video processor (vision/video_processor.h: frames sampled at
//      `video_fps`, sized within the video pixel bounds, grouped by the temporal patch);
//   3. each single pad is repeated to its item's token count — the processor's expansion
//      (AudioTokenCount; grid_t · grid_h · grid_w / merge² for an image or a video); a video
//      heard with its sound becomes <|audio_start|>, its video and audio pads interleaved by time
//      (AudioInVideoOrder: position_id_per_seconds, second_per_grid = 2 / fps), <|audio_end|>;
//   4. the audio encoder turns the features into one embedding per audio pad
//      (audio/audio_encoder.h), the vision encoder the patches into one embedding per image or
//      video pad plus the deepstack features (vision/vision_encoder.h), one item at a time;
//   5. every token gets its (t, h, w) rotary position (model/rope_index.h), continuing the
//      session's sequence; a video's time axis advances by second_per_grid · 13 per frame group,
//      second_per_grid in float32 as the thinker receives it.
//
// Memory: one image's or one video's patches are held at a time (a video's 24 KiB per video
// token, bounded by the context, which is checked from the sizes before any pixel work); the
// vision encoder runs one frame at a time (vision/vision_encoder.h).
//
// Errors name the item (its file): a clip, image or video too large for the context, a clip too
// short for a frame, an image whose aspect ratio the processor refuses, a video with too few
// frames or frames that do not decode, a video heard with its sound that has none, a count of pads
// that differs from the count of items, a model without an audio tower or a vision tower.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image_file.h"
#include "media/video_file.h"
#include "model/config.h"
#include "model/rope_index.h"
#include "util/status.h"
#include "vision/image_processor.h"
#include "vision/video_processor.h"
#include "vision/vision_encoder.h"

namespace omnisage {

class Engine;

struct AudioClip {
  std::string name;            // the file it came from, for errors
  std::vector<float> samples;  // 16 kHz mono
};

struct ImageInput {
  std::string name;    // the file it came from, for errors
  DecodedImage image;  // 8-bit RGB (media/image_file.h)
};

// A video file: probed when it is named (its packets read, no frame decoded), decoded frame by
// frame when the prompt is prepared.
struct VideoInput {
  std::string name;  // the file
  VideoInfo info;    // ProbeVideo's answer: size, frames, rate
  // The video's own sound track as 16 kHz mono when it is heard (use_audio_in_video), else empty.
  std::vector<float> sound;
};

struct Prompt {
  std::vector<int32_t> ids;        // one <|audio_pad|> per clip, one <|image_pad|> per image,
                                   // one <|video_pad|> per video
  std::vector<AudioClip> audio;    // may be empty
  std::vector<ImageInput> images;  // may be empty
  std::vector<VideoInput> videos;  // may be empty
  // Every video is heard with its own sound track (transformers' use_audio_in_video /
  // load_audio_from_video): each VideoInput carries `sound`.
  bool use_audio_in_video = false;
  double video_fps = 2.0;  // frames sampled per second of video (the processor's `fps`)

  bool has_media() const { return !audio.empty() || !images.empty() || !videos.empty(); }
};

// A prompt ready for TextModel::Forward.
struct PreparedPrompt {
  std::vector<int32_t> ids;  // placeholders expanded
  std::vector<float> audio;  // [audio_rows, hidden] encoder outputs, in placeholder order
  int64_t audio_rows = 0;
  // The vision encoder's outputs for the visual tokens, in prompt order: embeds [tokens, hidden],
  // deepstack [levels, tokens, hidden] (tokens = 0 without images).
  VisionFeatures visual;
  RopePositions positions;  // of `ids`, from `start`
};

// Probes the video at `path` (ProbeVideo) and, when `with_sound`, decodes its sound track to 16 kHz
// mono (LoadVideoAudio: a video without one is an error naming the file).
StatusOr<VideoInput> LoadVideoInput(const std::string& path, bool with_sound);

// A clip from a sound file's bytes (WAV, FLAC, OGG, MP3: media/audio_file.h), as 16 kHz mono;
// `name` says where it came from in errors (the server: "messages[1].content[0]").
StatusOr<AudioClip> AudioClipFromBytes(const std::string& name, std::string bytes);

// The audio tokens of each clip when `audio` are one prompt's clips (spec §6.2, with the batched
// frame count of audio/log_mel.h).
std::vector<int64_t> AudioTokenCounts(const std::vector<AudioClip>& audio,
                                      const AudioEncoderConfig& config);
// An image's patch grid after smart_resize (spec §7.1); errors name the image.
StatusOr<MediaGrid> ImageGrid(const ImageInput& image, const ImageProcessorConfig& config);
// A video's patch grid and sampled frames at `config` (fps, pixel bounds): what PreprocessVideo
// will make of it, from the probe alone. Errors (naming the video): too few frames, a size the
// processor refuses.
struct VideoPlan {
  MediaGrid grid;
  std::vector<int64_t> frame_indices;
};
StatusOr<VideoPlan> PlanVideo(const VideoInput& video, const VideoProcessorConfig& config);
// The video processor's settings for `prompt` (its fps) on the image processor's `images`.
VideoProcessorConfig VideoConfigOf(const Prompt& prompt, const ImageProcessorConfig& images);
// The number of tokens `prompt` has once its placeholders are expanded (without checking the
// counts of pads against the items). Errors: an image or video the processor refuses.
StatusOr<int64_t> ExpandedLength(const Prompt& prompt, const ModelConfig& config,
                                 const ImageProcessorConfig& images);

// Prepares `prefix` (text ids already due, e.g. a sampled token not yet fed) followed by `prompt`,
// whose first token takes rotary position `start`; `room` tokens are left in the context.
StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room);

}  // namespace omnisage

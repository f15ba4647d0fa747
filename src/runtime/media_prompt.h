// Prompts that carry audio and images: what a front end hands a Session, and how it is made ready
// for the thinker (spec §5, §6, §7):
//
//   1. the prompt's ids hold one <|audio_pad|> per clip, between <|audio_start|> and <|audio_end|>,
//      and one <|image_pad|> per image, between <|vision_start|> and <|vision_end|>, as the chat
//      template renders a message's media parts (runtime/messages.h);
//   2. the clips (16 kHz mono, media/audio_file.h) become log-mel features together, as the
//      reference processor batches one prompt's clips (audio/log_mel.h); each image (8-bit RGB,
//      media/image_file.h) becomes patches through the image processor (vision/image_processor.h)
//      with the model's preprocessor_config.json;
//   3. each single pad is repeated to its item's token count — the processor's expansion
//      (AudioTokenCount; grid_h · grid_w / merge² for an image);
//   4. the audio encoder turns the features into one embedding per audio pad
//      (audio/audio_encoder.h), the vision encoder the patches into one embedding per image pad
//      plus the deepstack features (vision/vision_encoder.h);
//   5. every token gets its (t, h, w) rotary position (model/rope_index.h), continuing the
//      session's sequence.
//
// Errors name the item (its file): a clip or image too large for the context, a clip too short
// for a frame, an image whose aspect ratio the processor refuses, a count of pads that differs
// from the count of items, a model without an audio tower or a vision tower.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image_file.h"
#include "model/config.h"
#include "model/rope_index.h"
#include "util/status.h"
#include "vision/image_processor.h"
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

struct Prompt {
  std::vector<int32_t> ids;        // one <|audio_pad|> per clip, one <|image_pad|> per image
  std::vector<AudioClip> audio;    // may be empty
  std::vector<ImageInput> images;  // may be empty

  bool has_media() const { return !audio.empty() || !images.empty(); }
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

// A clip from a sound file's bytes (WAV, FLAC, OGG, MP3: media/audio_file.h), as 16 kHz mono;
// `name` says where it came from in errors (the server: "messages[1].content[0]").
StatusOr<AudioClip> AudioClipFromBytes(const std::string& name, std::string bytes);

// The audio tokens of each clip when `audio` are one prompt's clips (spec §6.2, with the batched
// frame count of audio/log_mel.h).
std::vector<int64_t> AudioTokenCounts(const std::vector<AudioClip>& audio,
                                      const AudioEncoderConfig& config);
// An image's patch grid after smart_resize (spec §7.1); errors name the image.
StatusOr<MediaGrid> ImageGrid(const ImageInput& image, const ImageProcessorConfig& config);
// The number of tokens `prompt` has once its placeholders are expanded (without checking the
// counts of pads against the items). Errors: an image the processor refuses.
StatusOr<int64_t> ExpandedLength(const Prompt& prompt, const ModelConfig& config,
                                 const ImageProcessorConfig& images);

// Prepares `prefix` (text ids already due, e.g. a sampled token not yet fed) followed by `prompt`,
// whose first token takes rotary position `start`; `room` tokens are left in the context.
StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room);

}  // namespace omnisage

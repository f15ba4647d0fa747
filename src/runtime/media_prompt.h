// Prompts that carry audio: what a front end hands a Session, and how it is made ready for the
// thinker (spec §6, §5):
//
//   1. the prompt's ids hold one <|audio_pad|> per clip, between <|audio_start|> and <|audio_end|>,
//      as the chat template renders a message's audio part (tokenizer/chat_template.h);
//   2. the clips (16 kHz mono, media/audio_file.h) become log-mel features together, as the
//      reference processor batches one prompt's clips (audio/log_mel.h);
//   3. each single pad is repeated AudioTokenCount(frames) times — the processor's expansion;
//   4. the audio encoder turns the features into one embedding per pad (audio/audio_encoder.h);
//   5. every token gets its (t, h, w) rotary position (model/rope_index.h), continuing the
//      session's sequence.
//
// Errors name the clip (its file): a clip too long for the context, too short for a frame, a
// count of pads that differs from the count of clips, a model without an audio tower.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/rope_index.h"
#include "util/status.h"

namespace omnisage {

class Engine;

struct AudioClip {
  std::string name;            // the file it came from, for errors
  std::vector<float> samples;  // 16 kHz mono
};

struct Prompt {
  std::vector<int32_t> ids;      // with one <|audio_pad|> per clip, in the clips' order
  std::vector<AudioClip> audio;  // may be empty: a text prompt
};

// A prompt ready for TextModel::Forward.
struct PreparedPrompt {
  std::vector<int32_t> ids;  // placeholders expanded
  std::vector<float> audio;  // [audio_rows, hidden] encoder outputs, in placeholder order
  int64_t audio_rows = 0;
  RopePositions positions;  // of `ids`, from `start`
};

// A clip from a sound file's bytes (WAV, FLAC, OGG, MP3: media/audio_file.h), as 16 kHz mono;
// `name` says where it came from in errors (the server: "messages[1].content[0]").
StatusOr<AudioClip> AudioClipFromBytes(const std::string& name, std::string bytes);

// The audio tokens of each clip when `audio` are one prompt's clips (spec §6.2, with the batched
// frame count of audio/log_mel.h).
std::vector<int64_t> AudioTokenCounts(const std::vector<AudioClip>& audio,
                                      const AudioEncoderConfig& config);
// The number of tokens `prompt` has once its placeholders are expanded (without checking them).
int64_t ExpandedLength(const Prompt& prompt, const ModelConfig& config);

// Prepares `prefix` (text ids already due, e.g. a sampled token not yet fed) followed by `prompt`,
// whose first token takes rotary position `start`; `room` tokens are left in the context.
StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room);

}  // namespace omnisage

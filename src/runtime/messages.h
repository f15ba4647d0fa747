// A conversation in Hugging Face's format, the way `run --messages` and `eval --messages` read it:
//
//   [{"role": "system", "content": "You are ..."},
//    {"role": "user", "content": [{"type": "audio", "audio": "clip.wav"},
//                                 {"type": "text", "text": "What is this sound?"}]}]
//
// `content` is a string or a list of parts: text {"type":"text","text":…}, audio
// {"type":"audio","audio":PATH} (or "path"), image {"type":"image","image":PATH}, video
// {"type":"video","video":PATH}. It is rendered as ChatML (tokenizer/chat_template.h) with the
// generation prompt, each part in place, a media part as its placeholder block (spec §9):
//   audio <|audio_start|><|audio_pad|><|audio_end|>
//   image <|vision_start|><|image_pad|><|vision_end|>
//   video <|vision_start|><|video_pad|><|vision_end|>
// (one pad each; the session repeats it to the item's token count and, for a video heard with its
// sound, interleaves the audio pads: runtime/media_prompt.h).
//
// Errors name the file, the message and the field. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/status.h"

namespace omnisage {

inline constexpr std::string_view kAudioPlaceholder = "<|audio_start|><|audio_pad|><|audio_end|>";
inline constexpr std::string_view kImagePlaceholder = "<|vision_start|><|image_pad|><|vision_end|>";
inline constexpr std::string_view kVideoPlaceholder = "<|vision_start|><|video_pad|><|vision_end|>";

struct MessagePart {
  enum class Kind { kText, kAudio, kImage, kVideo };
  Kind kind = Kind::kText;
  std::string text;  // kText
  std::string path;  // media: the file, relative paths resolved against the messages file
};

struct Message {
  std::string role;
  std::vector<MessagePart> parts;
};

// Parses a conversation; `file` names it in errors and relative media paths are resolved against
// its directory.
StatusOr<std::vector<Message>> ParseMessages(const nlohmann::json& root, const std::string& file);
StatusOr<std::vector<Message>> LoadMessages(const std::string& path);

struct RenderedMessages {
  std::string text;                      // ChatML with placeholders
  std::vector<std::string> audio_paths;  // the audio parts' files, in order
  std::vector<std::string> image_paths;  // the image parts' files, in order
  std::vector<std::string> video_paths;  // the video parts' files, in order
};
// Errors: an unknown role.
StatusOr<RenderedMessages> RenderMessages(const std::vector<Message>& messages,
                                          bool add_generation_prompt = true);

}  // namespace omnisage

// Flags that put media into a prompt (run, eval, chat), declared once: --audio PATH and
// --image PATH (each repeatable) and --messages FILE.json (a Hugging Face conversation,
// runtime/messages.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "runtime/media_prompt.h"
#include "util/status.h"

namespace omnisage::cli {

struct MediaArgs {
  std::vector<std::string> audio;  // --audio, in order
  std::vector<std::string> image;  // --image, in order
  std::string messages;            // --messages
};

void AddAudioFlag(CLI::App* sub, MediaArgs* args);
void AddImageFlag(CLI::App* sub, MediaArgs* args);
void AddMessagesFlag(CLI::App* sub, MediaArgs* args);

// Reads each file as 16 kHz mono (media/audio_file.h); an error names the file.
StatusOr<std::vector<AudioClip>> LoadAudioClips(const std::vector<std::string>& paths);
// Decodes each file to 8-bit RGB (media/image_file.h); an error names the file.
StatusOr<std::vector<ImageInput>> LoadImages(const std::vector<std::string>& paths);

// A prompt's text (ChatML with placeholders), its clips and images, before tokenizing.
struct MediaText {
  std::string text;
  std::vector<AudioClip> audio;
  std::vector<ImageInput> images;
};

// From --messages (rendered with the generation prompt; --audio and --image may not be given
// too), else one user message: an image part per --image, an audio part per --audio, then
// `user_text` (the order of transformers' examples), after a system message when `system` is not
// empty.
StatusOr<MediaText> BuildMediaText(const MediaArgs& args, const std::string& system,
                                   const std::string& user_text);

}  // namespace omnisage::cli

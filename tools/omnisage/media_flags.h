// Flags that put audio into a prompt (run, eval, chat), declared once: --audio PATH (repeatable)
// and --messages FILE.json (a Hugging Face conversation, runtime/messages.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "runtime/media_prompt.h"
#include "util/status.h"

namespace omnisage::cli {

struct MediaArgs {
  std::vector<std::string> audio;  // --audio, in order
  std::string messages;            // --messages
};

void AddAudioFlag(CLI::App* sub, MediaArgs* args);
void AddMessagesFlag(CLI::App* sub, MediaArgs* args);

// Reads each file as 16 kHz mono (media/audio_file.h); an error names the file.
StatusOr<std::vector<AudioClip>> LoadAudioClips(const std::vector<std::string>& paths);

// A prompt's text (ChatML with placeholders) and its clips, before tokenizing.
struct MediaText {
  std::string text;
  std::vector<AudioClip> audio;
};

// From --messages (rendered with the generation prompt; --audio may not be given too), else one
// user message: an audio part per --audio, then `user_text` (the order of transformers' examples),
// after a system message when `system` is not empty.
StatusOr<MediaText> BuildMediaText(const MediaArgs& args, const std::string& system,
                                   const std::string& user_text);

}  // namespace omnisage::cli

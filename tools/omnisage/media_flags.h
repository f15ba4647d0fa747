// Flags that put media into a prompt (run, eval, chat), declared once: --audio PATH, --image PATH
// and --video PATH (each repeatable), --use-audio-in-video, --video-fps and --messages FILE.json
// (a Hugging Face conversation, runtime/messages.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "runtime/media_prompt.h"
#include "util/status.h"

namespace omnisage::cli {

struct MediaArgs {
  std::vector<std::string> audio;   // --audio, in order
  std::vector<std::string> image;   // --image, in order
  std::vector<std::string> video;   // --video, in order
  bool use_audio_in_video = false;  // --use-audio-in-video
  double video_fps = 2.0;           // --video-fps
  std::string messages;             // --messages
};

void AddAudioFlag(CLI::App* sub, MediaArgs* args);
void AddImageFlag(CLI::App* sub, MediaArgs* args);
// --video, --use-audio-in-video and --video-fps.
void AddVideoFlags(CLI::App* sub, MediaArgs* args);
void AddMessagesFlag(CLI::App* sub, MediaArgs* args);

// Reads each file as 16 kHz mono (media/audio_file.h); an error names the file.
StatusOr<std::vector<AudioClip>> LoadAudioClips(const std::vector<std::string>& paths);
// Decodes each file to 8-bit RGB (media/image_file.h); an error names the file.
StatusOr<std::vector<ImageInput>> LoadImages(const std::vector<std::string>& paths);
// Probes each video (and decodes its sound track when `with_sound`); an error names the file.
StatusOr<std::vector<VideoInput>> LoadVideos(const std::vector<std::string>& paths,
                                             bool with_sound);
// The prompt's media from --audio, --image and --video (and the video settings), for ids or raw
// text that hold the placeholders themselves.
Status LoadMedia(const MediaArgs& args, Prompt* prompt);

// A prompt's text (ChatML with placeholders), its clips, images and videos, before tokenizing.
struct MediaText {
  std::string text;
  std::vector<AudioClip> audio;
  std::vector<ImageInput> images;
  std::vector<VideoInput> videos;
};

// From --messages (rendered with the generation prompt; --audio, --image and --video may not be
// given too), else one user message: an image part per --image, a video part per --video, an audio
// part per --audio, then `user_text` (the order of transformers' examples), after a system message
// when `system` is not empty.
StatusOr<MediaText> BuildMediaText(const MediaArgs& args, const std::string& system,
                                   const std::string& user_text);
// BuildMediaText's media into `prompt` (with the video settings); returns the text.
StatusOr<std::string> BuildMediaPrompt(const MediaArgs& args, const std::string& system,
                                       const std::string& user_text, Prompt* prompt);

}  // namespace omnisage::cli

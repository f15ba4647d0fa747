#include "media_flags.h"

#include <fmt/format.h>

#include "media/audio_file.h"
#include "media/image_file.h"
#include "runtime/messages.h"

namespace omnisage::cli {

void AddAudioFlag(CLI::App* sub, MediaArgs* args) {
  sub->add_option("--audio", args->audio,
                  "A sound file for the prompt (WAV, FLAC, OGG/Vorbis, MP3; any rate and channels, "
                  "heard as 16 kHz mono); repeat for several, in order");
}

void AddImageFlag(CLI::App* sub, MediaArgs* args) {
  sub->add_option("--image", args->image,
                  "An image for the prompt (PNG, JPEG, WebP; resized as the model's image "
                  "processor does); repeat for several, in order");
}

void AddMessagesFlag(CLI::App* sub, MediaArgs* args) {
  sub->add_option("--messages", args->messages,
                  "A conversation as Hugging Face messages (JSON list of {role, content}; content "
                  "a string or text/image/audio parts), rendered with the generation prompt");
}

StatusOr<std::vector<AudioClip>> LoadAudioClips(const std::vector<std::string>& paths) {
  std::vector<AudioClip> clips;
  for (const std::string& path : paths) {
    OMNI_ASSIGN_OR_RETURN(std::vector<float> samples, LoadAudio16kMono(path));
    clips.push_back({path, std::move(samples)});
  }
  return clips;
}

StatusOr<std::vector<ImageInput>> LoadImages(const std::vector<std::string>& paths) {
  std::vector<ImageInput> images;
  for (const std::string& path : paths) {
    OMNI_ASSIGN_OR_RETURN(DecodedImage image, LoadImage(path));
    images.push_back({path, std::move(image)});
  }
  return images;
}

StatusOr<MediaText> BuildMediaText(const MediaArgs& args, const std::string& system,
                                   const std::string& user_text) {
  std::vector<Message> messages;
  if (!args.messages.empty()) {
    if (!args.audio.empty() || !args.image.empty()) {
      return InvalidArgument(
          "--audio or --image with --messages: put the audio and image parts in the messages");
    }
    OMNI_ASSIGN_OR_RETURN(messages, LoadMessages(args.messages));
  } else {
    if (!system.empty()) messages.push_back({"system", {{MessagePart::Kind::kText, system, ""}}});
    Message user{"user", {}};
    for (const std::string& path : args.image) {
      user.parts.push_back({MessagePart::Kind::kImage, "", path});
    }
    for (const std::string& path : args.audio) {
      user.parts.push_back({MessagePart::Kind::kAudio, "", path});
    }
    user.parts.push_back({MessagePart::Kind::kText, user_text, ""});
    messages.push_back(std::move(user));
  }
  OMNI_ASSIGN_OR_RETURN(RenderedMessages rendered, RenderMessages(messages));
  MediaText out;
  out.text = std::move(rendered.text);
  OMNI_ASSIGN_OR_RETURN(out.audio, LoadAudioClips(rendered.audio_paths));
  OMNI_ASSIGN_OR_RETURN(out.images, LoadImages(rendered.image_paths));
  return out;
}

}  // namespace omnisage::cli

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

void AddVideoFlags(CLI::App* sub, MediaArgs* args) {
  sub->add_option("--video", args->video,
                  "A video for the prompt (any container and codec FFmpeg decodes; frames sampled "
                  "at --video-fps and resized as the model's video processor does); repeat for "
                  "several, in order");
  sub->add_flag("--use-audio-in-video", args->use_audio_in_video,
                "Hear each video's own sound track with it (its audio tokens interleaved with the "
                "video's by time); a video without one is an error");
  sub->add_option("--video-fps", args->video_fps, "Frames sampled per second of video (default 2)")
      ->check(CLI::PositiveNumber);
}

void AddMessagesFlag(CLI::App* sub, MediaArgs* args) {
  sub->add_option("--messages", args->messages,
                  "A conversation as Hugging Face messages (JSON list of {role, content}; content "
                  "a string or text/image/video/audio parts), rendered with the generation prompt");
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

StatusOr<std::vector<VideoInput>> LoadVideos(const std::vector<std::string>& paths,
                                             bool with_sound) {
  std::vector<VideoInput> videos;
  for (const std::string& path : paths) {
    OMNI_ASSIGN_OR_RETURN(VideoInput video, LoadVideoInput(path, with_sound));
    videos.push_back(std::move(video));
  }
  return videos;
}

Status LoadMedia(const MediaArgs& args, Prompt* prompt) {
  OMNI_ASSIGN_OR_RETURN(prompt->audio, LoadAudioClips(args.audio));
  OMNI_ASSIGN_OR_RETURN(prompt->images, LoadImages(args.image));
  OMNI_ASSIGN_OR_RETURN(prompt->videos, LoadVideos(args.video, args.use_audio_in_video));
  prompt->use_audio_in_video = args.use_audio_in_video;
  prompt->video_fps = args.video_fps;
  return Status::Ok();
}

StatusOr<std::string> BuildMediaPrompt(const MediaArgs& args, const std::string& system,
                                       const std::string& user_text, Prompt* prompt) {
  OMNI_ASSIGN_OR_RETURN(MediaText built, BuildMediaText(args, system, user_text));
  prompt->audio = std::move(built.audio);
  prompt->images = std::move(built.images);
  prompt->videos = std::move(built.videos);
  prompt->use_audio_in_video = args.use_audio_in_video;
  prompt->video_fps = args.video_fps;
  return std::move(built.text);
}

StatusOr<MediaText> BuildMediaText(const MediaArgs& args, const std::string& system,
                                   const std::string& user_text) {
  std::vector<Message> messages;
  if (!args.messages.empty()) {
    if (!args.audio.empty() || !args.image.empty() || !args.video.empty()) {
      return InvalidArgument(
          "--audio, --image or --video with --messages: put the media parts in the messages");
    }
    OMNI_ASSIGN_OR_RETURN(messages, LoadMessages(args.messages));
  } else {
    if (!system.empty()) messages.push_back({"system", {{MessagePart::Kind::kText, system, ""}}});
    Message user{"user", {}};
    for (const std::string& path : args.image) {
      user.parts.push_back({MessagePart::Kind::kImage, "", path});
    }
    for (const std::string& path : args.video) {
      user.parts.push_back({MessagePart::Kind::kVideo, "", path});
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
  OMNI_ASSIGN_OR_RETURN(out.videos, LoadVideos(rendered.video_paths, args.use_audio_in_video));
  return out;
}

}  // namespace omnisage::cli

#include "runtime/media_prompt.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "io/file.h"
#include "media/audio_file.h"
#include "runtime/engine.h"

namespace omnisage {
namespace {

// "a.wav (9.3 s, 121 tokens)".
std::string Describe(const AudioClip& clip, int64_t tokens) {
  return fmt::format("{} ({:.1f} s, {} tokens)", clip.name,
                     static_cast<double>(clip.samples.size()) / LogMel::kSampleRate, tokens);
}

// "clip.mp4 (12.0 s, 280 tokens)".
std::string Describe(const VideoInput& video, int64_t tokens) {
  return fmt::format("{} ({:.1f} s, {} tokens)", video.name, video.info.duration_seconds, tokens);
}

// "cat.png (1280×720, 880 tokens)".
std::string Describe(const ImageInput& image, int64_t tokens) {
  return fmt::format("{} ({}×{}, {} tokens)", image.name, image.image.width, image.image.height,
                     tokens);
}

int64_t Count(const std::vector<int32_t>& ids, int64_t id) {
  return id < 0 ? 0 : std::count(ids.begin(), ids.end(), static_cast<int32_t>(id));
}

// Item rows of `items` (each [tokens_i, width] and [levels, tokens_i, width]) as one
// VisionFeatures in the given order.
VisionFeatures Concatenate(const std::vector<VisionFeatures>& items) {
  VisionFeatures out;
  for (const VisionFeatures& f : items) {
    out.tokens += f.tokens;
    out.width = f.width;
    out.levels = f.levels;
  }
  out.embeds.reserve(out.tokens * out.width);
  out.deepstack.resize(out.levels * out.tokens * out.width);
  int64_t row = 0;
  for (const VisionFeatures& f : items) {
    out.embeds.insert(out.embeds.end(), f.embeds.begin(), f.embeds.end());
    for (int k = 0; k < out.levels; ++k) {
      std::copy_n(f.level(k), f.tokens * f.width,
                  out.deepstack.data() + (k * out.tokens + row) * out.width);
    }
    row += f.tokens;
  }
  return out;
}

// One audio input of the prompt: a standalone clip or a heard video's sound track.
struct AudioSource {
  const std::string* name;
  const std::vector<float>* samples;
};

// The prompt's audio in the order of its placeholders, as the processor resolves it: each clip at
// its <|audio_pad|>, a heard video's sound at its <|video_pad|>. Items beyond the pads (counts are
// checked elsewhere) follow in their own order.
std::vector<AudioSource> AudioInOrder(const Prompt& p, int32_t audio_pad, int32_t video_pad) {
  std::vector<AudioSource> out;
  size_t clip = 0, video = 0;
  for (int32_t id : p.ids) {
    if (id == audio_pad && clip < p.audio.size()) {
      out.push_back({&p.audio[clip].name, &p.audio[clip].samples});
      ++clip;
    } else if (id == video_pad && video < p.videos.size()) {
      if (p.use_audio_in_video) out.push_back({&p.videos[video].name, &p.videos[video].sound});
      ++video;
    }
  }
  for (; clip < p.audio.size(); ++clip)
    out.push_back({&p.audio[clip].name, &p.audio[clip].samples});
  for (; p.use_audio_in_video && video < p.videos.size(); ++video) {
    out.push_back({&p.videos[video].name, &p.videos[video].sound});
  }
  return out;
}

// AudioTokenCounts for sample counts batched together.
std::vector<int64_t> TokenCounts(const std::vector<AudioSource>& audio,
                                 const AudioEncoderConfig& config) {
  int64_t longest = 0;
  for (const AudioSource& a : audio) {
    longest = std::max(longest, static_cast<int64_t>(a.samples->size()));
  }
  std::vector<int64_t> tokens;
  for (const AudioSource& a : audio) {
    const int64_t frames = LogMel::KeptFrames(static_cast<int64_t>(a.samples->size()), longest);
    tokens.push_back(AudioTokenCount(frames, config.n_window));
  }
  return tokens;
}

}  // namespace

StatusOr<VideoInput> LoadVideoInput(const std::string& path, bool with_sound) {
  VideoInput v;
  v.name = path;
  OMNI_ASSIGN_OR_RETURN(v.info, ProbeVideo(path));
  if (with_sound) {
    OMNI_ASSIGN_OR_RETURN(v.sound, LoadVideoAudio(path, kAudioSampleRate));
  }
  return v;
}

VideoProcessorConfig VideoConfigOf(const Prompt& prompt, const ImageProcessorConfig& images) {
  VideoProcessorConfig c = VideoConfigFor(images);
  c.fps = prompt.video_fps;
  return c;
}

StatusOr<VideoPlan> PlanVideo(const VideoInput& video, const VideoProcessorConfig& c) {
  VideoPlan plan;
  OMNI_ASSIGN_OR_RETURN(
      plan.frame_indices,
      SampleFrameIndices(video.info.num_frames, video.info.average_fps, c, video.name));
  auto size = SmartResize(video.info.height, video.info.width, c.image.factor(), c.min_pixels,
                          c.max_pixels);
  if (!size.ok()) return InvalidArgument(video.name + ": " + size.status().message());
  const int64_t tp = c.image.temporal_patch_size;
  plan.grid = MediaGrid{(static_cast<int64_t>(plan.frame_indices.size()) + tp - 1) / tp,
                        size->height / c.image.patch_size, size->width / c.image.patch_size};
  return plan;
}

StatusOr<AudioClip> AudioClipFromBytes(const std::string& name, std::string bytes) {
  const std::unique_ptr<File> file = NewMemoryFile(name, std::move(bytes));
  OMNI_ASSIGN_OR_RETURN(DecodedAudio decoded, DecodeAudio(*file));
  OMNI_ASSIGN_OR_RETURN(std::vector<float> samples, ToMono(decoded, kAudioSampleRate, name));
  return AudioClip{name, std::move(samples)};
}

std::vector<int64_t> AudioTokenCounts(const std::vector<AudioClip>& audio,
                                      const AudioEncoderConfig& config) {
  int64_t longest = 0;
  for (const AudioClip& clip : audio) {
    longest = std::max(longest, static_cast<int64_t>(clip.samples.size()));
  }
  std::vector<int64_t> tokens;
  for (const AudioClip& clip : audio) {
    const int64_t frames = LogMel::KeptFrames(static_cast<int64_t>(clip.samples.size()), longest);
    tokens.push_back(AudioTokenCount(frames, config.n_window));
  }
  return tokens;
}

StatusOr<MediaGrid> ImageGrid(const ImageInput& image, const ImageProcessorConfig& c) {
  auto size =
      SmartResize(image.image.height, image.image.width, c.factor(), c.min_pixels, c.max_pixels);
  if (!size.ok()) return InvalidArgument(image.name + ": " + size.status().message());
  return MediaGrid{1, size->height / c.patch_size, size->width / c.patch_size};
}

StatusOr<int64_t> ExpandedLength(const Prompt& prompt, const ModelConfig& config,
                                 const ImageProcessorConfig& images) {
  int64_t n = static_cast<int64_t>(prompt.ids.size()) - static_cast<int64_t>(prompt.audio.size()) -
              static_cast<int64_t>(prompt.images.size()) -
              static_cast<int64_t>(prompt.videos.size());
  const std::vector<AudioSource> audio =
      AudioInOrder(prompt, static_cast<int32_t>(config.tokens.audio_token),
                   static_cast<int32_t>(config.tokens.video_token));
  for (int64_t t : TokenCounts(audio, config.audio)) n += t;
  const int64_t group = config.vision.spatial_merge_size * config.vision.spatial_merge_size;
  for (const ImageInput& image : prompt.images) {
    OMNI_ASSIGN_OR_RETURN(const MediaGrid g, ImageGrid(image, images));
    n += g.t * g.h * g.w / std::max<int64_t>(group, 1);
  }
  const VideoProcessorConfig video_config = VideoConfigOf(prompt, images);
  for (const VideoInput& video : prompt.videos) {
    OMNI_ASSIGN_OR_RETURN(const VideoPlan plan, PlanVideo(video, video_config));
    n += plan.grid.t * plan.grid.h * plan.grid.w / std::max<int64_t>(group, 1);
    if (prompt.use_audio_in_video) n += 2;  // <|audio_start|>, <|audio_end|>
  }
  return n;
}

StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room) {
  const ModelConfig& config = engine.config();
  const int32_t audio_pad = static_cast<int32_t>(config.tokens.audio_token);
  const int32_t image_pad = static_cast<int32_t>(config.tokens.image_token);
  const int32_t video_pad = static_cast<int32_t>(config.tokens.video_token);
  PreparedPrompt out;
  out.ids = prefix;
  const int64_t audio_pads = Count(prompt.ids, audio_pad);
  if (audio_pads != static_cast<int64_t>(prompt.audio.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} audio placeholders (<|audio_pad|>) but {} audio clips were given",
        audio_pads, prompt.audio.size()));
  }
  // A model without a vision tower is named before anything else about the images and videos.
  const bool visual = !prompt.images.empty() || !prompt.videos.empty();
  if (visual) OMNI_RETURN_IF_ERROR(engine.vision_encoder().status());
  const int64_t image_pads = Count(prompt.ids, image_pad);
  if (image_pads != static_cast<int64_t>(prompt.images.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} image placeholders (<|image_pad|>) but {} images were given",
        image_pads, prompt.images.size()));
  }
  const int64_t video_pads = Count(prompt.ids, video_pad);
  if (video_pads != static_cast<int64_t>(prompt.videos.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} video placeholders (<|video_pad|>) but {} videos were given",
        video_pads, prompt.videos.size()));
  }
  if (prompt.use_audio_in_video) {
    for (const VideoInput& video : prompt.videos) {
      if (video.sound.empty()) {
        return InvalidArgument(fmt::format(
            "{}: the video is to be heard with its sound (use_audio_in_video) but no sound track "
            "was loaded",
            video.name));
      }
    }
  }
  if (!prompt.has_media()) {
    out.ids.insert(out.ids.end(), prompt.ids.begin(), prompt.ids.end());
    OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, {}, start));
    return out;
  }
  // Token counts follow from the sample counts, image sizes and video probes, so a prompt that
  // cannot fit is refused before any feature, pixel or encoder work.
  const std::vector<AudioSource> audio = AudioInOrder(prompt, audio_pad, video_pad);
  const std::vector<int64_t> audio_tokens = TokenCounts(audio, config.audio);
  const ImageProcessorConfig* processor = nullptr;
  std::vector<MediaGrid> grids;
  std::vector<int64_t> image_tokens;
  std::vector<VideoPlan> plans;
  std::vector<int64_t> video_tokens;
  VideoProcessorConfig video_config;
  if (visual) {
    OMNI_ASSIGN_OR_RETURN(VisionEncoder * encoder, engine.vision_encoder());
    OMNI_ASSIGN_OR_RETURN(processor, engine.image_processor());
    for (const ImageInput& image : prompt.images) {
      OMNI_ASSIGN_OR_RETURN(const MediaGrid g, ImageGrid(image, *processor));
      grids.push_back(g);
      image_tokens.push_back(encoder->TokenCount(g));
    }
    video_config = VideoConfigOf(prompt, *processor);
    for (const VideoInput& video : prompt.videos) {
      OMNI_ASSIGN_OR_RETURN(VideoPlan plan, PlanVideo(video, video_config));
      video_tokens.push_back(encoder->TokenCount(plan.grid));
      plans.push_back(std::move(plan));
    }
  }
  const ImageProcessorConfig no_images;
  OMNI_ASSIGN_OR_RETURN(
      const int64_t expanded,
      ExpandedLength(prompt, config, processor != nullptr ? *processor : no_images));
  const int64_t total = static_cast<int64_t>(prefix.size()) + expanded;
  if (total > room) {
    std::string items;
    for (size_t k = 0; k < audio.size(); ++k) {  // the clips, with their batched token counts
      for (const AudioClip& clip : prompt.audio) {
        if (audio[k].samples == &clip.samples) {
          items += (items.empty() ? "audio " : ", ") + Describe(clip, audio_tokens[k]);
        }
      }
    }
    for (size_t i = 0; i < prompt.images.size(); ++i) {
      items += (items.empty() ? "image " : ", ") + Describe(prompt.images[i], image_tokens[i]);
    }
    for (size_t i = 0; i < prompt.videos.size(); ++i) {
      items += (items.empty() ? "video " : ", ") + Describe(prompt.videos[i], video_tokens[i]);
    }
    return OutOfRange(
        fmt::format("{}: the prompt needs {} tokens but {} are left in the context (--context {})",
                    items, total, room, engine.options().context));
  }
  std::vector<MelFeatures> features;
  if (!audio.empty()) {
    OMNI_ASSIGN_OR_RETURN(AudioEncoder * encoder, engine.audio_encoder());
    std::vector<std::vector<float>> samples;
    std::vector<std::string> names;
    for (const AudioSource& a : audio) {
      samples.push_back(*a.samples);
      names.push_back(*a.name);
    }
    OMNI_ASSIGN_OR_RETURN(features, engine.log_mel().ComputeBatch(samples, names));
    OMNI_RETURN_IF_ERROR(encoder->Encode(features, &engine.pool(), &out.audio));
  }
  std::vector<MediaGrid> video_grids;
  if (visual) {
    // One item at a time, in prompt order (the thinker places the visual rows in the order of
    // their pads): the patches of one image or video are held at once, never all of them.
    OMNI_ASSIGN_OR_RETURN(VisionEncoder * encoder, engine.vision_encoder());
    std::vector<VisionFeatures> items;
    size_t image = 0, video = 0;
    auto check_dim = [&](const std::string& name, int patch_dim) -> Status {
      if (patch_dim == encoder->patch_dim()) return Status::Ok();
      return InvalidArgument(fmt::format(
          "{}: the processor makes patches of {} values but the vision encoder takes {} "
          "(preprocessor_config.json and config.json disagree)",
          name, patch_dim, encoder->patch_dim()));
    };
    for (int32_t id : prompt.ids) {
      if (id == image_pad) {
        const ImageInput& in = prompt.images[image++];
        OMNI_ASSIGN_OR_RETURN(const ImagePatches patches,
                              PreprocessImage(in.image, *processor, in.name));
        OMNI_RETURN_IF_ERROR(check_dim(in.name, patches.patch_dim));
        const MediaGrid g{patches.grid_t, patches.grid_h, patches.grid_w};
        items.emplace_back();
        OMNI_RETURN_IF_ERROR(encoder->Encode(patches.pixels.data(), patches.num_patches(), {g},
                                             &engine.pool(), &items.back()));
      } else if (id == video_pad) {
        const VideoInput& in = prompt.videos[video];
        OMNI_ASSIGN_OR_RETURN(const VideoPatches patches, PreprocessVideo(in.name, video_config));
        OMNI_RETURN_IF_ERROR(check_dim(in.name, patches.patch_dim));
        const MediaGrid g{patches.grid_t, patches.grid_h, patches.grid_w};
        const MediaGrid& want = plans[video].grid;
        if (g.t != want.t || g.h != want.h || g.w != want.w) {
          return Internal(
              fmt::format("{}: the video's grid {}x{}x{} differs from its plan {}x{}x{}", in.name,
                          g.t, g.h, g.w, want.t, want.h, want.w));
        }
        items.emplace_back();
        OMNI_RETURN_IF_ERROR(encoder->Encode(patches.pixels.data(), patches.num_patches(), {g},
                                             &engine.pool(), &items.back()));
        ++video;
      }
    }
    out.visual = Concatenate(items);
  }
  RopeIndexMedia media;
  media.images = grids;
  media.use_audio_in_video = prompt.use_audio_in_video;
  const int64_t merge = config.vision.spatial_merge_size;
  size_t sound = 0, image = 0, video = 0;
  for (int32_t id : prompt.ids) {
    if (id == audio_pad) {
      out.ids.insert(out.ids.end(), audio_tokens[sound], audio_pad);  // the processor's expansion
      media.audio_frames.push_back(features[sound].frames);
      out.audio_rows += audio_tokens[sound++];
    } else if (id == image_pad) {
      out.ids.insert(out.ids.end(), image_tokens[image++], image_pad);
    } else if (id == video_pad) {
      const MediaGrid& g = plans[video].grid;
      // The processor's second_per_grid: the Python float temporal_patch_size / fps.
      const double second_per_grid = video_config.image.temporal_patch_size / prompt.video_fps;
      media.videos.push_back(g);
      media.video_seconds_per_grid.push_back(second_per_grid);
      if (prompt.use_audio_in_video) {
        out.ids.push_back(static_cast<int32_t>(config.tokens.audio_start));
        for (bool is_video :
             AudioInVideoOrder(g.t, g.h, g.w, merge, second_per_grid,
                               config.position_id_per_seconds, audio_tokens[sound])) {
          out.ids.push_back(is_video ? video_pad : audio_pad);
        }
        out.ids.push_back(static_cast<int32_t>(config.tokens.audio_end));
        media.audio_frames.push_back(features[sound].frames);
        out.audio_rows += audio_tokens[sound++];
      } else {
        out.ids.insert(out.ids.end(), video_tokens[video], video_pad);
      }
      ++video;
    } else {
      out.ids.push_back(id);
    }
  }
  OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, media, start));
  return out;
}

}  // namespace omnisage

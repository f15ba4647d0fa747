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

}  // namespace

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
              static_cast<int64_t>(prompt.images.size());
  for (int64_t t : AudioTokenCounts(prompt.audio, config.audio)) n += t;
  const int64_t group = config.vision.spatial_merge_size * config.vision.spatial_merge_size;
  for (const ImageInput& image : prompt.images) {
    OMNI_ASSIGN_OR_RETURN(const MediaGrid g, ImageGrid(image, images));
    n += g.t * g.h * g.w / std::max<int64_t>(group, 1);
  }
  return n;
}

StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room) {
  const ModelConfig& config = engine.config();
  const int32_t audio_pad = static_cast<int32_t>(config.tokens.audio_token);
  const int32_t image_pad = static_cast<int32_t>(config.tokens.image_token);
  PreparedPrompt out;
  out.ids = prefix;
  const int64_t audio_pads = Count(prompt.ids, audio_pad);
  if (audio_pads != static_cast<int64_t>(prompt.audio.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} audio placeholders (<|audio_pad|>) but {} audio clips were given",
        audio_pads, prompt.audio.size()));
  }
  // A model without a vision tower is named before anything else about the images.
  if (!prompt.images.empty()) OMNI_RETURN_IF_ERROR(engine.vision_encoder().status());
  const int64_t image_pads = Count(prompt.ids, image_pad);
  if (image_pads != static_cast<int64_t>(prompt.images.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} image placeholders (<|image_pad|>) but {} images were given",
        image_pads, prompt.images.size()));
  }
  if (!prompt.has_media()) {
    out.ids.insert(out.ids.end(), prompt.ids.begin(), prompt.ids.end());
    OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, {}, start));
    return out;
  }
  // Token counts follow from the sample counts and image sizes, so a prompt that cannot fit is
  // refused before any feature or encoder work.
  const std::vector<int64_t> audio_tokens = AudioTokenCounts(prompt.audio, config.audio);
  const ImageProcessorConfig* processor = nullptr;
  std::vector<MediaGrid> grids;
  std::vector<int64_t> image_tokens;
  if (!prompt.images.empty()) {
    OMNI_ASSIGN_OR_RETURN(VisionEncoder * encoder, engine.vision_encoder());
    OMNI_ASSIGN_OR_RETURN(processor, engine.image_processor());
    for (const ImageInput& image : prompt.images) {
      OMNI_ASSIGN_OR_RETURN(const MediaGrid g, ImageGrid(image, *processor));
      grids.push_back(g);
      image_tokens.push_back(encoder->TokenCount(g));
    }
  }
  const ImageProcessorConfig no_images;
  OMNI_ASSIGN_OR_RETURN(
      const int64_t expanded,
      ExpandedLength(prompt, config, processor != nullptr ? *processor : no_images));
  const int64_t total = static_cast<int64_t>(prefix.size()) + expanded;
  if (total > room) {
    std::string items;
    for (size_t i = 0; i < prompt.audio.size(); ++i) {
      items += (items.empty() ? "audio " : ", ") + Describe(prompt.audio[i], audio_tokens[i]);
    }
    for (size_t i = 0; i < prompt.images.size(); ++i) {
      items += (items.empty() ? "image " : ", ") + Describe(prompt.images[i], image_tokens[i]);
    }
    return OutOfRange(
        fmt::format("{}: the prompt needs {} tokens but {} are left in the context (--context {})",
                    items, total, room, engine.options().context));
  }
  std::vector<MelFeatures> features;
  if (!prompt.audio.empty()) {
    OMNI_ASSIGN_OR_RETURN(AudioEncoder * encoder, engine.audio_encoder());
    std::vector<std::vector<float>> samples;
    std::vector<std::string> names;
    for (const AudioClip& clip : prompt.audio) {
      samples.push_back(clip.samples);
      names.push_back(clip.name);
    }
    OMNI_ASSIGN_OR_RETURN(features, engine.log_mel().ComputeBatch(samples, names));
    OMNI_RETURN_IF_ERROR(encoder->Encode(features, &engine.pool(), &out.audio));
  }
  if (!prompt.images.empty()) {
    // One image at a time: the patches of one image are held at once, never all of them.
    OMNI_ASSIGN_OR_RETURN(VisionEncoder * encoder, engine.vision_encoder());
    std::vector<VisionFeatures> items(prompt.images.size());
    for (size_t i = 0; i < prompt.images.size(); ++i) {
      const ImageInput& image = prompt.images[i];
      OMNI_ASSIGN_OR_RETURN(const ImagePatches patches,
                            PreprocessImage(image.image, *processor, image.name));
      const MediaGrid g{patches.grid_t, patches.grid_h, patches.grid_w};
      if (patches.patch_dim != encoder->patch_dim()) {
        return InvalidArgument(fmt::format(
            "{}: the image processor makes patches of {} values but the vision encoder takes {} "
            "(preprocessor_config.json and config.json disagree)",
            image.name, patches.patch_dim, encoder->patch_dim()));
      }
      OMNI_RETURN_IF_ERROR(encoder->Encode(patches.pixels.data(), patches.num_patches(), {g},
                                           &engine.pool(), &items[i]));
    }
    out.visual = Concatenate(items);
  }
  RopeIndexMedia media;
  media.images = grids;
  size_t clip = 0, image = 0;
  for (int32_t id : prompt.ids) {
    if (id == audio_pad) {
      out.ids.insert(out.ids.end(), audio_tokens[clip], audio_pad);  // the processor's expansion
      media.audio_frames.push_back(features[clip].frames);
      out.audio_rows += audio_tokens[clip++];
    } else if (id == image_pad) {
      out.ids.insert(out.ids.end(), image_tokens[image++], image_pad);
    } else {
      out.ids.push_back(id);
    }
  }
  OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, media, start));
  return out;
}

}  // namespace omnisage

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

int64_t ExpandedLength(const Prompt& prompt, const ModelConfig& config) {
  int64_t n = static_cast<int64_t>(prompt.ids.size()) - static_cast<int64_t>(prompt.audio.size());
  for (int64_t t : AudioTokenCounts(prompt.audio, config.audio)) n += t;
  return n;
}

StatusOr<PreparedPrompt> PreparePrompt(Engine& engine, const std::vector<int32_t>& prefix,
                                       const Prompt& prompt, float start, int64_t room) {
  const ModelConfig& config = engine.config();
  const int32_t pad = static_cast<int32_t>(config.tokens.audio_token);
  PreparedPrompt out;
  out.ids = prefix;
  const int64_t pads = pad < 0 ? 0 : std::count(prompt.ids.begin(), prompt.ids.end(), pad);
  if (pads != static_cast<int64_t>(prompt.audio.size())) {
    return InvalidArgument(fmt::format(
        "the prompt holds {} audio placeholders (<|audio_pad|>) but {} audio clips were given",
        pads, prompt.audio.size()));
  }
  if (prompt.audio.empty()) {
    out.ids.insert(out.ids.end(), prompt.ids.begin(), prompt.ids.end());
    OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, {}, start));
    return out;
  }
  // Token counts follow from the sample counts, so a prompt that cannot fit is refused before
  // any feature or encoder work.
  const std::vector<int64_t> tokens = AudioTokenCounts(prompt.audio, config.audio);
  const int64_t total = static_cast<int64_t>(prefix.size()) + ExpandedLength(prompt, config);
  if (total > room) {
    std::string clips;
    for (size_t i = 0; i < prompt.audio.size(); ++i) {
      clips += (i > 0 ? ", " : "") + Describe(prompt.audio[i], tokens[i]);
    }
    return OutOfRange(fmt::format(
        "audio {}: the prompt needs {} tokens but {} are left in the context (--context {})", clips,
        total, room, engine.options().context));
  }
  OMNI_ASSIGN_OR_RETURN(AudioEncoder * encoder, engine.audio_encoder());
  std::vector<std::vector<float>> samples;
  std::vector<std::string> names;
  for (const AudioClip& clip : prompt.audio) {
    samples.push_back(clip.samples);
    names.push_back(clip.name);
  }
  OMNI_ASSIGN_OR_RETURN(std::vector<MelFeatures> features,
                        engine.log_mel().ComputeBatch(samples, names));
  OMNI_RETURN_IF_ERROR(encoder->Encode(features, &engine.pool(), &out.audio));
  RopeIndexMedia media;
  size_t clip = 0;
  for (int32_t id : prompt.ids) {
    if (id != pad) {
      out.ids.push_back(id);
      continue;
    }
    out.ids.insert(out.ids.end(), tokens[clip], pad);  // the processor's expansion
    media.audio_frames.push_back(features[clip].frames);
    out.audio_rows += tokens[clip++];
  }
  OMNI_ASSIGN_OR_RETURN(out.positions, GetRopeIndex(out.ids, config, media, start));
  return out;
}

}  // namespace omnisage

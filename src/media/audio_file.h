// Sound files into the samples the audio encoder hears: 16 kHz mono float32.
//
// Decoding is libsndfile's (WAV, FLAC, OGG/Vorbis, MP3 and the other formats it reads), through
// the project's File (io/file.h), so tests can feed bytes from memory or inject read errors.
// Integer PCM becomes float in [-1, 1) by libsndfile's normalisation (a 16-bit sample s is
// s / 32768), as Python's soundfile -- which the reference pipeline uses -- returns it.
//
// Conversion to 16 kHz mono, in the order librosa.load(path, sr=16000) does it:
//   1. several channels are averaged into one (librosa.to_mono);
//   2. another rate is resampled with libsoxr at quality SOXR_HQ (soxr_quality_spec(SOXR_HQ, 0):
//      20-bit precision, pass band to 91.3% of the lower Nyquist frequency, linear phase), the
//      "soxr_hq" recipe librosa uses by default, so the reference pipeline and this one share the
//      resampler; a clip of n samples at rate r becomes round(n · 16000 / r) samples.
// A file that is already 16 kHz mono is passed through untouched (the samples are bit-identical
// to what libsndfile decoded).
//
// Errors name the file: missing or unreadable, not a sound file libsndfile knows, no samples,
// a sample that is NaN or infinite.
//
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/file.h"
#include "util/status.h"

namespace omnisage {

// The rate the audio encoder's features are computed at (spec §6.1).
inline constexpr int kAudioSampleRate = 16000;

struct DecodedAudio {
  std::vector<float> samples;  // [frames, channels], interleaved, nominally in [-1, 1]
  int sample_rate = 0;         // Hz
  int channels = 0;
  std::string format;  // libsndfile's name of the container, e.g. "WAV (Microsoft)"

  int64_t frames() const {
    return channels > 0 ? static_cast<int64_t>(samples.size()) / channels : 0;
  }
};

// Decodes every frame of `file`.
StatusOr<DecodedAudio> DecodeAudio(const File& file);

// Averages the channels and resamples to `rate` Hz (SOXR_HQ); returns the samples untouched when
// `audio` is already mono at `rate`. `name` is used in errors.
StatusOr<std::vector<float>> ToMono(const DecodedAudio& audio, int rate, const std::string& name);

// Reads the file at `path` as 16 kHz mono: OpenFile, DecodeAudio, ToMono.
StatusOr<std::vector<float>> LoadAudio16kMono(const std::string& path);

}  // namespace omnisage

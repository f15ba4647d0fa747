// Whisper log-mel features of 16 kHz mono audio, as transformers' WhisperFeatureExtractor computes
// them for Qwen3-Omni (spec §6.1):
//
//   STFT: n_fft 400, hop 160, periodic Hann window, centred (reflect padding of 200 samples on
//         each side), one-sided; power |X|²; the last frame dropped (n samples give n / 160
//         frames, 100 per second)
//   mel:  128 triangular Slaney filters over 0–8000 Hz with Slaney (area) normalisation
//   log:  log10(max(mel, 1e-10)); clamped from below at (the clip's maximum − 8); (x + 4) / 4
//
// The FFT is FFTW3's (double precision); the filter bank is computed in double, as
// transformers.audio_utils.mel_filter_bank does, and rounded to float32 as the reference uses it.
//
// Several clips of one prompt are featurised the way the reference processor batches them
// (padding=True, "to the longest"): every clip is zero-padded to the longest clip's length before
// the STFT, the −8 clamp takes the maximum over the padded clip, and clip i keeps
// min(ceil(n_i / 160), n_max / 160) frames (the sample-level attention mask, subsampled by the
// hop). A clip alone keeps n / 160 frames. So a clip's features depend on the other clips of its
// prompt exactly as they do in transformers.
//
// Thread-safety: a LogMel is immutable after construction; Compute may run on several threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

namespace omnisage {

struct MelFeatures {
  int64_t bins = 0;
  int64_t frames = 0;
  std::vector<float> data;  // [bins, frames], row-major (the reference's [feature_size, frames])

  float at(int64_t bin, int64_t frame) const { return data[bin * frames + frame]; }
};

class LogMel {
 public:
  static constexpr int64_t kFftSize = 400;
  static constexpr int64_t kHop = 160;
  static constexpr int64_t kSampleRate = 16000;
  // Reflect padding needs more samples than the 200 it mirrors.
  static constexpr int64_t kMinSamples = kFftSize / 2 + 1;

  explicit LogMel(int64_t num_mel_bins = 128);
  ~LogMel();
  LogMel(const LogMel&) = delete;
  LogMel& operator=(const LogMel&) = delete;

  int64_t bins() const { return bins_; }
  // [bins, kFftSize / 2 + 1] float32: the filter bank (transposed from the reference's layout).
  const std::vector<float>& filters() const { return filters_; }

  // How many frames ComputeBatch keeps of a clip of `samples` samples batched with clips of at
  // most `longest` samples (a clip alone: longest = samples, giving samples / kHop).
  static int64_t KeptFrames(int64_t samples, int64_t longest) {
    return std::min((samples + kHop - 1) / kHop, longest / kHop);
  }

  // The features of one clip of `samples` (16 kHz mono). `name` names the clip in errors: fewer
  // than kMinSamples samples.
  StatusOr<MelFeatures> Compute(const std::vector<float>& samples, const std::string& name) const;

  // The features of the clips of one prompt, batched as the reference batches them (see above).
  // `names[i]` names clip i in errors.
  StatusOr<std::vector<MelFeatures>> ComputeBatch(const std::vector<std::vector<float>>& clips,
                                                  const std::vector<std::string>& names) const;

 private:
  // Log-mel of `samples` zero-padded to `padded` samples: all padded / kHop frames, clamped by
  // their maximum; the first `keep` are returned.
  MelFeatures Run(const std::vector<float>& samples, int64_t padded, int64_t keep) const;

  struct Plan;
  int64_t bins_;
  std::vector<double> window_;  // [kFftSize] periodic Hann, float32 values (torch.hann_window)
  std::vector<float> filters_;  // [bins, kFftSize / 2 + 1]
  std::unique_ptr<Plan> plan_;
};

}  // namespace omnisage

#include "audio/log_mel.h"

#include <fftw3.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>

namespace omnisage {
namespace {

constexpr int64_t kFreqBins = LogMel::kFftSize / 2 + 1;  // 201

// FFTW's planner is not thread-safe; executing a plan on new arrays is.
std::mutex& PlannerMutex() {
  static std::mutex mu;
  return mu;
}

// transformers.audio_utils, mel_scale="slaney".
double HertzToMel(double hz) {
  const double min_log_hertz = 1000.0, min_log_mel = 15.0, logstep = 27.0 / std::log(6.4);
  if (hz >= min_log_hertz) return min_log_mel + std::log(hz / min_log_hertz) * logstep;
  return 3.0 * hz / 200.0;
}

double MelToHertz(double mel) {
  const double min_log_hertz = 1000.0, min_log_mel = 15.0, logstep = std::log(6.4) / 27.0;
  if (mel >= min_log_mel) return min_log_hertz * std::exp(logstep * (mel - min_log_mel));
  return 200.0 * mel / 3.0;
}

// numpy.linspace(start, stop, num)[i].
double Linspace(double start, double stop, int64_t num, int64_t i) {
  if (i == num - 1) return stop;
  const double step = (stop - start) / static_cast<double>(num - 1);
  return start + static_cast<double>(i) * step;
}

}  // namespace

struct LogMel::Plan {
  double* in = nullptr;         // [kFftSize]
  fftw_complex* out = nullptr;  // [kFreqBins]
  fftw_plan plan = nullptr;
};

LogMel::LogMel(int64_t num_mel_bins) : bins_(num_mel_bins), plan_(std::make_unique<Plan>()) {
  // torch.hann_window(400) (periodic), in float32 as torch computes it.
  window_.resize(kFftSize);
  const float step = static_cast<float>(2.0 * std::numbers::pi / static_cast<double>(kFftSize));
  for (int64_t n = 0; n < kFftSize; ++n) {
    window_[n] = 0.5f - 0.5f * std::cos(static_cast<float>(n) * step);
  }
  // mel_filter_bank(201, bins, 0, 8000, 16000, norm="slaney", mel_scale="slaney"), in double.
  const double mel_min = HertzToMel(0.0), mel_max = HertzToMel(8000.0);
  std::vector<double> filter_freqs(bins_ + 2);
  for (int64_t i = 0; i < bins_ + 2; ++i) {
    filter_freqs[i] = MelToHertz(Linspace(mel_min, mel_max, bins_ + 2, i));
  }
  filters_.assign(bins_ * kFreqBins, 0.0f);
  for (int64_t f = 0; f < kFreqBins; ++f) {
    const double fft_freq = Linspace(0, kSampleRate / 2, kFreqBins, f);
    for (int64_t b = 0; b < bins_; ++b) {
      const double down = -(filter_freqs[b] - fft_freq) / (filter_freqs[b + 1] - filter_freqs[b]);
      const double up =
          (filter_freqs[b + 2] - fft_freq) / (filter_freqs[b + 2] - filter_freqs[b + 1]);
      const double enorm = 2.0 / (filter_freqs[b + 2] - filter_freqs[b]);
      filters_[b * kFreqBins + f] = static_cast<float>(std::max(0.0, std::min(down, up)) * enorm);
    }
  }
  std::lock_guard<std::mutex> lock(PlannerMutex());
  plan_->in = fftw_alloc_real(kFftSize);
  plan_->out = fftw_alloc_complex(kFreqBins);
  plan_->plan =
      fftw_plan_dft_r2c_1d(static_cast<int>(kFftSize), plan_->in, plan_->out, FFTW_ESTIMATE);
}

LogMel::~LogMel() {
  std::lock_guard<std::mutex> lock(PlannerMutex());
  fftw_destroy_plan(plan_->plan);
  fftw_free(plan_->in);
  fftw_free(plan_->out);
}

MelFeatures LogMel::Run(const std::vector<float>& samples, int64_t padded, int64_t keep) const {
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t frames = padded / kHop;     // the STFT's 1 + padded / hop, less the last
  auto sample = [&](int64_t j) -> double {  // the padded clip, reflected at both ends
    if (j < 0) j = -j;
    if (j >= padded) j = 2 * (padded - 1) - j;
    return j < n ? samples[j] : 0.0;
  };
  // fftw_execute_dft_r2c wants arrays aligned like the plan's: FFTW's own allocation.
  double* in = fftw_alloc_real(kFftSize);
  fftw_complex* out = fftw_alloc_complex(kFreqBins);
  std::vector<double> power(kFreqBins);
  std::vector<double> logmel(bins_ * frames);  // [bins, frames]
  double max_log = -INFINITY;
  for (int64_t t = 0; t < frames; ++t) {
    const int64_t first = t * kHop - kFftSize / 2;
    for (int64_t k = 0; k < kFftSize; ++k) in[k] = sample(first + k) * window_[k];
    fftw_execute_dft_r2c(plan_->plan, in, out);
    for (int64_t f = 0; f < kFreqBins; ++f)
      power[f] = out[f][0] * out[f][0] + out[f][1] * out[f][1];
    for (int64_t b = 0; b < bins_; ++b) {
      const float* w = filters_.data() + b * kFreqBins;
      double mel = 0;
      for (int64_t f = 0; f < kFreqBins; ++f) mel += w[f] * power[f];
      const double v = std::log10(std::max(mel, 1e-10));
      logmel[b * frames + t] = v;
      max_log = std::max(max_log, v);
    }
  }
  fftw_free(in);
  fftw_free(out);
  MelFeatures m;
  m.bins = bins_;
  m.frames = keep;
  m.data.resize(bins_ * keep);
  const double floor = max_log - 8.0;
  for (int64_t b = 0; b < bins_; ++b) {
    for (int64_t t = 0; t < keep; ++t) {
      m.data[b * keep + t] =
          static_cast<float>((std::max(logmel[b * frames + t], floor) + 4.0) / 4.0);
    }
  }
  return m;
}

StatusOr<MelFeatures> LogMel::Compute(const std::vector<float>& samples,
                                      const std::string& name) const {
  OMNI_ASSIGN_OR_RETURN(std::vector<MelFeatures> one, ComputeBatch({samples}, {name}));
  return std::move(one[0]);
}

StatusOr<std::vector<MelFeatures>> LogMel::ComputeBatch(
    const std::vector<std::vector<float>>& clips, const std::vector<std::string>& names) const {
  int64_t longest = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    const int64_t n = static_cast<int64_t>(clips[i].size());
    if (n < kMinSamples) {
      return InvalidArgument(fmt::format(
          "{}: {} samples at 16 kHz is too short for a log-mel frame (at least {} samples, {:.1f} "
          "ms)",
          i < names.size() ? names[i] : fmt::format("clip {}", i), n, kMinSamples,
          1000.0 * kMinSamples / kSampleRate));
    }
    longest = std::max(longest, n);
  }
  std::vector<MelFeatures> out;
  out.reserve(clips.size());
  for (const std::vector<float>& clip : clips) {
    const int64_t n = static_cast<int64_t>(clip.size());
    out.push_back(Run(clip, longest, KeptFrames(n, longest)));
  }
  return out;
}

}  // namespace omnisage

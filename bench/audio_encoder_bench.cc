// audio_encoder_bench: seconds of compute per second of audio for the audio path (log-mel
// features, then the AuT encoder), at a checkpoint's real dimensions; run by hand.
//
//   audio_encoder_bench --model DIR [--seconds S] [--threads N] [--repeats R]
//
// DIR: e.g. `omnisage synth --preset full --sparse` (the real model's shapes; zero weights cost
// the same arithmetic). Prints one JSON object; the median of R runs. The same clip through
// transformers: tools/reference/bench_audio_encoder.py (docs/audio.md).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "audio/audio_encoder.h"
#include "audio/log_mel.h"
#include "io/weight_source.h"
#include "model/config.h"
#include "util/elapsed.h"
#include "util/memory_ledger.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run(const std::string& model, double seconds, int threads, int repeats) {
  auto config = LoadModelConfig(model + "/config.json");
  auto source = OpenCheckpointSource(model);
  if (!config.ok() || !source.ok()) {
    std::fprintf(stderr, "%s\n",
                 (!config.ok() ? config.status() : source.status()).ToString().c_str());
    return 1;
  }
  auto encoder = AudioEncoder::Load(**source, config->audio);
  if (!encoder.ok()) {
    std::fprintf(stderr, "%s\n", encoder.status().ToString().c_str());
    return 1;
  }
  auto pool = ThreadPool::Create(threads);
  if (!pool.ok()) return 1;
  // A 440 Hz tone with a little noise (the content does not change the arithmetic).
  std::vector<float> clip(static_cast<size_t>(seconds * 16000));
  uint32_t state = 1;
  for (size_t i = 0; i < clip.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    clip[i] = 0.3f * std::sin(2 * 3.14159265f * 440.0f * i / 16000) +
              0.01f * (static_cast<float>(state >> 8) / (1 << 24) - 0.5f);
  }
  const LogMel mel(config->audio.num_mel_bins);
  std::vector<double> mel_s, enc_s;
  std::vector<float> out;
  int64_t frames = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = mel.Compute(clip, "clip");
    const auto t1 = std::chrono::steady_clock::now();
    if (!f.ok()) return 1;
    frames = f->frames;
    if (Status s = (*encoder)->Encode({*f}, pool->get(), &out); !s.ok()) return 1;
    mel_s.push_back(SecondsBetween(t0, t1));
    enc_s.push_back(SecondsSince(t1));
  }
  const double m = Median(mel_s), e = Median(enc_s);
  std::printf(
      "{\"model\": \"%s\", \"audio_seconds\": %.2f, \"threads\": %d, \"repeats\": %d, "
      "\"mel_frames\": %lld, \"tokens\": %lld, \"weights_bytes\": %llu, \"mel_s\": %.4f, "
      "\"encoder_s\": %.4f, \"compute_s_per_audio_s\": %.4f, \"activations_bytes\": %llu}\n",
      model.c_str(), seconds, threads, repeats, static_cast<long long>(frames),
      static_cast<long long>(AudioTokenCount(frames, config->audio.n_window)),
      static_cast<unsigned long long>((*encoder)->weight_bytes()), m, e, (m + e) / seconds,
      static_cast<unsigned long long>((*encoder)->activations().bytes()));
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  CLI::App app("Audio path speed: log-mel + AuT encoder, seconds of compute per second of audio");
  std::string model;
  double seconds = 5;
  int threads = 2, repeats = 3;
  app.add_option("--model", model, "Checkpoint directory")->required();
  app.add_option("--seconds", seconds, "Length of the clip");
  app.add_option("--threads", threads, "Threads");
  app.add_option("--repeats", repeats, "Runs (the median is reported)");
  CLI11_PARSE(app, argc, argv);
  return omnisage::Run(model, seconds, threads, repeats);
}

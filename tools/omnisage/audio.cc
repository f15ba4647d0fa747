// omnisage audio: what the model would hear of sound files — their format, and the 16 kHz mono
// clip, log-mel frames and audio tokens each becomes (alone; clips of one prompt are batched).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "audio/log_mel.h"
#include "commands.h"
#include "io/file.h"
#include "media/audio_file.h"
#include "model/media_tokens.h"

namespace omnisage::cli {
namespace {

struct AudioArgs {
  std::vector<std::string> files;
  std::string samples_out;
  bool json = false;
};

int RunAudio(const AudioArgs& a) {
  if (!a.samples_out.empty() && a.files.size() != 1) {
    return ReportError("--samples-out takes exactly one file");
  }
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const std::string& path : a.files) {
    auto file = OpenFile(path);
    if (!file.ok()) return ReportError(file.status().message());
    auto decoded = DecodeAudio(**file);
    if (!decoded.ok()) return ReportError(decoded.status().message());
    auto mono = ToMono(*decoded, kAudioSampleRate, path);
    if (!mono.ok()) return ReportError(mono.status().message());
    const int64_t n = static_cast<int64_t>(mono->size());
    const int64_t frames = n / LogMel::kHop;
    nlohmann::ordered_json j = {
        {"file", path},
        {"format", decoded->format},
        {"sample_rate", decoded->sample_rate},
        {"channels", decoded->channels},
        {"seconds", static_cast<double>(decoded->frames()) / decoded->sample_rate},
        {"samples_16k", n},
        {"mel_frames", frames},
        {"audio_tokens", AudioTokenCount(frames)}};
    if (!a.samples_out.empty()) {
      Status s = WriteFileAtomically(
          a.samples_out,
          std::string_view(reinterpret_cast<const char*>(mono->data()), n * sizeof(float)));
      if (!s.ok()) return ReportError(s.message());
      j["samples_out"] = a.samples_out;
    }
    if (!a.json) {
      std::printf(
          "%s: %s, %d Hz, %d channel%s, %.2f s -> %lld samples at 16 kHz mono, %lld mel "
          "frames, %lld audio tokens\n",
          path.c_str(), decoded->format.c_str(), decoded->sample_rate, decoded->channels,
          decoded->channels == 1 ? "" : "s", j["seconds"].get<double>(), static_cast<long long>(n),
          static_cast<long long>(frames), static_cast<long long>(AudioTokenCount(frames)));
    }
    all.push_back(std::move(j));
  }
  if (a.json) std::printf("%s\n", all.dump(2).c_str());
  return 0;
}

}  // namespace

void AddAudioCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<AudioArgs>();
  CLI::App* sub = app.add_subcommand(
      "audio", "What the model hears of sound files: format, 16 kHz mono length, audio tokens");
  sub->add_option("files", args->files, "Sound files (WAV, FLAC, OGG/Vorbis, MP3)")->required();
  sub->add_option("--samples-out", args->samples_out,
                  "Write the 16 kHz mono samples (float32 little-endian) of the one file here");
  sub->add_flag("--json", args->json, "Print a JSON list instead");
  sub->callback([args, exit_code] { *exit_code = RunAudio(*args); });
}

}  // namespace omnisage::cli

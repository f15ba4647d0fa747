// omnisage video: what the model would see (and hear) of video files — the container, codec,
// size, frame count and rate, the frames sampled, the grid and the video tokens they become, and
// with --use-audio-in-video the sound track's 16 kHz length and audio tokens. Reads the packets
// (and decodes the sound track when asked), not the frames.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "audio/log_mel.h"
#include "commands.h"
#include "media/audio_file.h"
#include "media/video_file.h"
#include "model/media_tokens.h"
#include "vision/video_processor.h"

namespace omnisage::cli {
namespace {

struct VideoArgs {
  std::vector<std::string> files;
  double fps = 2.0;
  bool use_audio_in_video = false;
  bool json = false;
};

int RunVideo(const VideoArgs& a) {
  VideoProcessorConfig config = VideoConfigFor(ImageProcessorConfig{});
  config.fps = a.fps;
  const int merge = config.image.merge_size;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const std::string& path : a.files) {
    auto info = ProbeVideo(path);
    if (!info.ok()) return ReportError(info.status().message());
    auto indices = SampleFrameIndices(info->num_frames, info->average_fps, config, path);
    if (!indices.ok()) return ReportError(indices.status().message());
    auto size = SmartResize(info->height, info->width, config.image.factor(), config.min_pixels,
                            config.max_pixels);
    if (!size.ok()) return ReportError(fmt::format("{}: {}", path, size.status().message()));
    const int tp = config.image.temporal_patch_size, p = config.image.patch_size;
    const int64_t grid_t = (static_cast<int64_t>(indices->size()) + tp - 1) / tp;
    const int64_t grid_h = size->height / p, grid_w = size->width / p;
    const int64_t tokens = grid_t * grid_h * grid_w / (merge * merge);
    nlohmann::ordered_json j = {{"file", path},
                                {"container", info->container},
                                {"codec", info->codec},
                                {"width", info->width},
                                {"height", info->height},
                                {"frames", info->num_frames},
                                {"fps", info->average_fps},
                                {"seconds", info->duration_seconds},
                                {"has_audio", info->has_audio},
                                {"sample_fps", a.fps},
                                {"sampled_frames", *indices},
                                {"resized", {size->width, size->height}},
                                {"grid_thw", {grid_t, grid_h, grid_w}},
                                {"video_tokens", tokens},
                                {"second_per_grid", tp / a.fps}};
    std::string heard;
    if (a.use_audio_in_video) {
      auto samples = LoadVideoAudio(path, kAudioSampleRate);
      if (!samples.ok()) return ReportError(samples.status().message());
      const int64_t n = static_cast<int64_t>(samples->size());
      const int64_t frames = n / LogMel::kHop;
      j["samples_16k"] = n;
      j["mel_frames"] = frames;
      j["audio_tokens"] = AudioTokenCount(frames);
      heard = fmt::format(", sound: {} samples at 16 kHz mono, {} audio tokens", n,
                          AudioTokenCount(frames));
    }
    if (!a.json) {
      std::printf(
          "%s: %s/%s %dx%d, %lld frames at %.3f fps (%.2f s)%s -> %zu frames at %g fps, resized "
          "to %dx%d, grid %lldx%lldx%lld, %lld video tokens%s\n",
          path.c_str(), info->container.c_str(), info->codec.c_str(), info->width, info->height,
          static_cast<long long>(info->num_frames), info->average_fps, info->duration_seconds,
          info->has_audio ? " with sound" : "", indices->size(), a.fps, size->width, size->height,
          static_cast<long long>(grid_t), static_cast<long long>(grid_h),
          static_cast<long long>(grid_w), static_cast<long long>(tokens), heard.c_str());
    }
    all.push_back(std::move(j));
  }
  if (a.json) std::printf("%s\n", all.dump(2).c_str());
  return 0;
}

}  // namespace

void AddVideoCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<VideoArgs>();
  CLI::App* sub = app.add_subcommand(
      "video", "What the model sees of video files: frames sampled, grid, video tokens");
  sub->add_option("files", args->files, "Video files (any container and codec FFmpeg decodes)")
      ->required();
  sub->add_option("--fps", args->fps, "Frames sampled per second (default 2)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--use-audio-in-video", args->use_audio_in_video,
                "Also decode the sound track (an error when there is none)");
  sub->add_flag("--json", args->json, "Print a JSON list instead");
  sub->callback([args, exit_code] { *exit_code = RunVideo(*args); });
}

}  // namespace omnisage::cli

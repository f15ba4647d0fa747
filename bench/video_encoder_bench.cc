// video_encoder_bench: seconds of compute per second of video for the video path (decode, sample,
// resize and patchify, then the vision encoder), or per image for the image path (decode, resize,
// patchify, encoder), at a checkpoint's real dimensions; run by hand.
//
//   video_encoder_bench --model DIR (--video FILE [--fps F] | --image FILE) [--threads N]
//                       [--repeats R]
//
// DIR: e.g. `omnisage synth --preset full --sparse` (the real model's shapes; zero weights cost
// the same arithmetic). Prints one JSON object; the median of R runs. The same video or image
// through transformers: tools/reference/bench_video_encoder.py (docs/vision.md).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "io/weight_source.h"
#include "media/image_file.h"
#include "model/config.h"
#include "util/elapsed.h"
#include "util/thread_pool.h"
#include "vision/video_processor.h"
#include "vision/vision_encoder.h"

namespace omnisage {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run(const std::string& model, const std::string& video, const std::string& image_path,
        double fps, int threads, int repeats) {
  auto config = LoadModelConfig(model + "/config.json");
  auto source = OpenCheckpointSource(model);
  auto image = LoadImageProcessorConfig(model + "/preprocessor_config.json");
  if (!config.ok() || !source.ok() || !image.ok()) {
    std::fprintf(stderr, "%s\n",
                 (!config.ok()   ? config.status()
                  : !source.ok() ? source.status()
                                 : image.status())
                     .ToString()
                     .c_str());
    return 1;
  }
  auto encoder = VisionEncoder::Load(**source, config->vision);
  auto pool = ThreadPool::Create(threads);
  if (!encoder.ok() || !pool.ok()) {
    std::fprintf(stderr, "%s\n",
                 (!encoder.ok() ? encoder.status() : pool.status()).ToString().c_str());
    return 1;
  }
  if (!image_path.empty()) {
    std::vector<double> proc_s, enc_s;
    ImagePatches patches;
    VisionFeatures features;
    int width = 0, height = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      auto decoded = LoadImage(image_path);
      if (!decoded.ok()) {
        std::fprintf(stderr, "%s\n", decoded.status().ToString().c_str());
        return 1;
      }
      width = decoded->width, height = decoded->height;
      auto p = PreprocessImage(*decoded, *image, image_path);
      const auto t1 = std::chrono::steady_clock::now();
      if (!p.ok()) {
        std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
        return 1;
      }
      patches = std::move(*p);
      const std::vector<MediaGrid> grids = {
          MediaGrid{patches.grid_t, patches.grid_h, patches.grid_w}};
      if (Status s = (*encoder)->Encode(patches.pixels.data(), patches.num_patches(), grids,
                                        pool->get(), &features);
          !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      proc_s.push_back(SecondsBetween(t0, t1));
      enc_s.push_back(SecondsSince(t1));
    }
    std::printf(
        "{\"model\": \"%s\", \"image\": \"%s\", \"size\": [%d, %d], \"threads\": %d, "
        "\"repeats\": %d, \"grid_thw\": [%d, %d, %d], \"tokens\": %lld, \"processor_s\": %.4f, "
        "\"encoder_s\": %.4f, \"activations_bytes\": %llu}\n",
        model.c_str(), image_path.c_str(), width, height, threads, repeats, patches.grid_t,
        patches.grid_h, patches.grid_w, static_cast<long long>(features.tokens), Median(proc_s),
        Median(enc_s), static_cast<unsigned long long>((*encoder)->activations().bytes()));
    return 0;
  }
  VideoProcessorConfig vc = VideoConfigFor(*image);
  vc.fps = fps;
  std::vector<double> proc_s, enc_s;
  VideoPatches patches;
  VisionFeatures features;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto p = PreprocessVideo(video, vc);
    const auto t1 = std::chrono::steady_clock::now();
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
      return 1;
    }
    patches = std::move(*p);
    const std::vector<MediaGrid> grids = {
        MediaGrid{patches.grid_t, patches.grid_h, patches.grid_w}};
    if (Status s = (*encoder)->Encode(patches.pixels.data(), patches.num_patches(), grids,
                                      pool->get(), &features);
        !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    proc_s.push_back(SecondsBetween(t0, t1));
    enc_s.push_back(SecondsSince(t1));
  }
  const double seconds = static_cast<double>(patches.total_frames) / patches.video_fps;
  const double p = Median(proc_s), e = Median(enc_s);
  std::printf(
      "{\"model\": \"%s\", \"video\": \"%s\", \"video_seconds\": %.3f, \"fps\": %.2f, "
      "\"threads\": %d, \"repeats\": %d, \"grid_thw\": [%d, %d, %d], \"tokens\": %lld, "
      "\"processor_s\": %.4f, \"encoder_s\": %.4f, \"encoder_s_per_video_s\": %.4f, "
      "\"compute_s_per_video_s\": %.4f, \"activations_bytes\": %llu}\n",
      model.c_str(), video.c_str(), seconds, fps, threads, repeats, patches.grid_t, patches.grid_h,
      patches.grid_w, static_cast<long long>(features.tokens), p, e, e / seconds, (p + e) / seconds,
      static_cast<unsigned long long>((*encoder)->activations().bytes()));
  return 0;
}

}  // namespace
}  // namespace omnisage

int main(int argc, char** argv) {
  CLI::App app(
      "Vision path speed: decode + processor + vision encoder, per second of video or per image");
  std::string model, video, image;
  double fps = 2.0;
  int threads = 2, repeats = 3;
  app.add_option("--model", model, "Checkpoint directory")->required();
  auto* v = app.add_option("--video", video, "Video file");
  auto* i = app.add_option("--image", image, "Image file (PNG, JPEG, WebP)");
  v->excludes(i);
  i->excludes(v);
  app.add_option("--fps", fps, "Frames sampled per second");
  app.add_option("--threads", threads, "Threads");
  app.add_option("--repeats", repeats, "Runs (the median is reported)");
  CLI11_PARSE(app, argc, argv);
  if (video.empty() == image.empty()) {
    std::fprintf(stderr, "give one of --video and --image\n");
    return 2;
  }
  return omnisage::Run(model, video, image, fps, threads, repeats);
}

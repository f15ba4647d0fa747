// Videos into the vision encoder's input patches, exactly as transformers 5.25 computes them for
// Qwen3-Omni: Qwen3OmniMoeProcessor calls Qwen2VLVideoProcessor (the torchvision backend) with its
// own video size bounds, and the frames come from torchcodec (media/video_file.h):
//
//   1. sample frames (Qwen2VLVideoProcessor.sample_frames, do_sample_frames with `fps`):
//        n = total / video_fps · fps, clamped to [min_frames, floor(min(max_frames, total) / 2)·2]
//        and to total, floored to a multiple of temporal_patch_size (2);
//        indices = int(float32(i · total / n)) for i < ceil(total / (total / n))  (torch.arange);
//      fewer than 2 frames cannot be sampled (transformers divides by zero);
//   2. resize every frame to smart_resize(H, W, 32, min_pixels, max_pixels) with torch's uint8
//      antialiased bicubic (F.interpolate(..., "bicubic", antialias=True) on AVX2 CPUs: PIL's
//      filter with a = -0.5, weights quantised to int16 at a precision chosen from the largest
//      weight, horizontal pass then vertical, each rounded and clipped to 8 bits); no resampling
//      when the size is unchanged;
//   3. normalise in float32 as the fused torchvision step: (float(u8) − m) / s with
//      m = float(mean) · float(1 / rescale_factor), s likewise (127.5 for Qwen3-Omni);
//   4. patchify: frames grouped by temporal_patch_size (the last repeated when the count is odd),
//      16×16 patches in merge-block order, each (channel, time, row, column) = 1536 values.
//
// grid_thw = (frames / 2, H'/16, W'/16); second_per_grid = temporal_patch_size / fps (what
// Qwen3OmniMoeProcessor reports as video_second_per_grid; the thinker's rope uses it).
//
// Frames are decoded, resized and patchified one at a time: besides the output, at most one
// decoded frame and one resized frame are held (PreprocessVideo). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image_file.h"
#include "util/status.h"
#include "vision/image_processor.h"

namespace omnisage {

struct VideoProcessorConfig {
  ImageProcessorConfig image;  // patch, merge, temporal patch, mean, std, rescale
  // Qwen3OmniMoeProcessor.videos_kwargs["size"]: 128 and 768 merged tokens' worth of pixels per
  // frame; these override preprocessor_config.json's min/max_pixels for videos.
  int64_t min_pixels = 128 * 32 * 32;
  int64_t max_pixels = 768 * 32 * 32;
  double fps = 2.0;  // frames sampled per second (the `fps` passed to the processor)
  int min_frames = 4;
  int max_frames = 768;
};

// The video settings for a checkpoint's image processor settings.
VideoProcessorConfig VideoConfigFor(const ImageProcessorConfig& image);

// Step 1: the frame indices sampled from a video of `total_frames` at `video_fps`.
StatusOr<std::vector<int64_t>> SampleFrameIndices(int64_t total_frames, double video_fps,
                                                  const VideoProcessorConfig& config,
                                                  const std::string& name);

// Step 2: torch's uint8 antialiased bicubic resize of an RGB image to width × height.
DecodedImage ResizeBicubicTorch(const DecodedImage& image, int width, int height);

struct VideoPatches {
  std::vector<float> pixels;  // [grid_t · grid_h · grid_w, patch_dim], merge-block order
  int grid_t = 0;
  int grid_h = 0;
  int grid_w = 0;
  int patch_dim = 0;
  double second_per_grid = 0;          // temporal_patch_size / fps
  std::vector<int64_t> frame_indices;  // the sampled frames
  double video_fps = 0;                // the file's average fps
  int64_t total_frames = 0;

  int64_t num_patches() const { return int64_t{grid_t} * grid_h * grid_w; }
  int64_t num_tokens(int merge) const { return num_patches() / (int64_t{merge} * merge); }
};

// Steps 2-4 for frames already decoded and sampled (all the same size).
StatusOr<VideoPatches> PreprocessVideoFrames(const std::vector<DecodedImage>& frames,
                                             const VideoProcessorConfig& config,
                                             const std::string& name);

// Steps 1-4 for the video file at `path`, decoding frame by frame.
StatusOr<VideoPatches> PreprocessVideo(const std::string& path, const VideoProcessorConfig& config);

}  // namespace omnisage

#include "vision/video_processor.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "media/video_file.h"

namespace omnisage {
namespace {

// torch's HelperInterpCubic::aa_filter (Keys' cubic, a = -0.5, in torch's operation order).
double CubicFilter(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// One axis's int16 weights as torch's _compute_indices_int16_weights_aa makes them.
struct AxisWeights {
  std::vector<int64_t> first, size;  // per output index: first input index, tap count
  std::vector<int16_t> w;            // [out, taps]
  int taps = 0;
  int precision = 0;
};

AxisWeights ComputeWeights(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
  const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  AxisWeights a;
  a.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.resize(static_cast<size_t>(out_size));
  a.size.resize(static_cast<size_t>(out_size));
  std::vector<double> wd(static_cast<size_t>(out_size) * a.taps, 0.0);
  for (int i = 0; i < out_size; ++i) {
    const double center = scale * (i + 0.5);
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    int64_t xsize = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size) - xmin;
    xsize = std::clamp<int64_t>(xsize, 0, a.taps);
    double* w = wd.data() + static_cast<size_t>(i) * a.taps;
    double total = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
      w[j] = CubicFilter((static_cast<double>(j + xmin) - center + 0.5) * invscale);
      total += w[j];
    }
    if (total != 0.0) {
      for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
    }
    a.first[static_cast<size_t>(i)] = xmin;
    a.size[static_cast<size_t>(i)] = xsize;
  }
  double w_max = wd[0];
  for (double v : wd) w_max = std::max(w_max, v);
  int precision = 0;
  for (precision = 0; precision < 22; ++precision) {
    const int next = static_cast<int>(0.5 + w_max * (1 << (precision + 1)));
    if (next >= (1 << 15)) break;
  }
  a.precision = precision;
  a.w.resize(wd.size());
  for (size_t k = 0; k < wd.size(); ++k) {
    const double v = wd[k] * (1 << precision);
    a.w[k] = static_cast<int16_t>(static_cast<int>(wd[k] < 0 ? -0.5 + v : 0.5 + v));
  }
  return a;
}

uint8_t Clip8(int32_t v, int precision) {
  return static_cast<uint8_t>(std::clamp(v >> precision, 0, 255));
}

DecodedImage Pass(const DecodedImage& in, int out_size, bool horizontal) {
  const AxisWeights a = ComputeWeights(horizontal ? in.width : in.height, out_size);
  DecodedImage out;
  out.format = in.format;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? in.height : out_size;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  const int32_t half = 1 << (a.precision - 1);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const int16_t* w = a.w.data() + static_cast<size_t>(o) * a.taps;
      const int64_t first = a.first[static_cast<size_t>(o)], n = a.size[static_cast<size_t>(o)];
      for (int c = 0; c < 3; ++c) {
        int32_t acc = half;
        for (int64_t j = 0; j < n; ++j) {
          const int sx = horizontal ? static_cast<int>(first + j) : x;
          const int sy = horizontal ? y : static_cast<int>(first + j);
          acc += static_cast<int32_t>(in.at(sy, sx, c)) * w[j];
        }
        out.rgb[(static_cast<size_t>(y) * out.width + x) * 3 + c] = Clip8(acc, a.precision);
      }
    }
  }
  return out;
}

// Normalised value of every (channel, u8) pair, as the fused torchvision rescale + normalise.
std::array<std::array<float, 256>, 3> NormaliseTable(const ImageProcessorConfig& c) {
  std::array<std::array<float, 256>, 3> table{};
  const float inv = static_cast<float>(1.0 / c.rescale_factor);
  for (int ch = 0; ch < 3; ++ch) {
    const float m = c.image_mean[ch] * inv, s = c.image_std[ch] * inv;
    for (int v = 0; v < 256; ++v) table[ch][v] = (static_cast<float>(v) - m) / s;
  }
  return table;
}

// Builds the patches group by group from resized frames pushed one at a time.
class PatchWriter {
 public:
  PatchWriter(const VideoProcessorConfig& config, int64_t frames, int height, int width)
      : c_(config.image), table_(NormaliseTable(config.image)) {
    const int p = c_.patch_size, tp = c_.temporal_patch_size;
    out_.grid_t = static_cast<int>((frames + tp - 1) / tp);
    out_.grid_h = height / p;
    out_.grid_w = width / p;
    out_.patch_dim = 3 * tp * p * p;
    out_.pixels.resize(static_cast<size_t>(out_.num_patches()) * out_.patch_dim);
  }

  // Writes frame `t` (resized) into every patch of its group.
  void Add(const DecodedImage& frame) {
    const int p = c_.patch_size, m = c_.merge_size, tp = c_.temporal_patch_size;
    const int group = static_cast<int>(added_ / tp), tt = static_cast<int>(added_ % tp);
    const size_t per_group = static_cast<size_t>(out_.grid_h) * out_.grid_w;
    float* base = out_.pixels.data() + group * per_group * out_.patch_dim;
    size_t patch = 0;
    for (int bh = 0; bh < out_.grid_h / m; ++bh) {
      for (int bw = 0; bw < out_.grid_w / m; ++bw) {
        for (int ih = 0; ih < m; ++ih) {
          for (int iw = 0; iw < m; ++iw, ++patch) {
            const int y0 = (bh * m + ih) * p, x0 = (bw * m + iw) * p;
            float* dst = base + patch * out_.patch_dim;
            for (int ch = 0; ch < 3; ++ch) {
              float* d = dst + (static_cast<size_t>(ch) * tp + tt) * p * p;
              for (int py = 0; py < p; ++py) {
                for (int px = 0; px < p; ++px) *d++ = table_[ch][frame.at(y0 + py, x0 + px, ch)];
              }
            }
          }
        }
      }
    }
    ++added_;
  }

  // Repeats the last frame until the last group is full (transformers' patchify padding).
  VideoPatches Finish(const DecodedImage& last) {
    while (added_ % c_.temporal_patch_size != 0) Add(last);
    return std::move(out_);
  }

 private:
  const ImageProcessorConfig& c_;
  std::array<std::array<float, 256>, 3> table_;
  VideoPatches out_;
  int64_t added_ = 0;
};

StatusOr<ResizedSize> VideoSize(int height, int width, const VideoProcessorConfig& config,
                                const std::string& name) {
  auto size =
      SmartResize(height, width, config.image.factor(), config.min_pixels, config.max_pixels);
  if (!size.ok()) return InvalidArgument(fmt::format("{}: {}", name, size.status().message()));
  return size;
}

}  // namespace

VideoProcessorConfig VideoConfigFor(const ImageProcessorConfig& image) {
  VideoProcessorConfig v;
  v.image = image;
  return v;
}

StatusOr<std::vector<int64_t>> SampleFrameIndices(int64_t total_frames, double video_fps,
                                                  const VideoProcessorConfig& config,
                                                  const std::string& name) {
  const int tp = config.image.temporal_patch_size;
  if (!(config.fps > 0)) return InvalidArgument(fmt::format("{}: fps must be positive", name));
  if (!(video_fps > 0)) {
    return InvalidArgument(fmt::format("{}: the video has no frame rate to sample from", name));
  }
  const double max_frames =
      std::floor(static_cast<double>(std::min<int64_t>(config.max_frames, total_frames)) / tp) * tp;
  double n = static_cast<double>(total_frames) / video_fps * config.fps;
  n = std::min({std::max(n, static_cast<double>(config.min_frames)), max_frames,
                static_cast<double>(total_frames)});
  const int64_t num = static_cast<int64_t>(std::floor(n / tp)) * tp;
  if (num <= 0) {
    return InvalidArgument(
        fmt::format("{}: a video of {} frame(s) cannot be sampled: at least {} frames are needed",
                    name, total_frames, tp));
  }
  const double step = static_cast<double>(total_frames) / static_cast<double>(num);
  const auto count = static_cast<int64_t>(std::ceil(static_cast<double>(total_frames) / step));
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    indices[static_cast<size_t>(i)] =
        static_cast<int32_t>(static_cast<float>(step * static_cast<double>(i)));
  }
  return indices;
}

DecodedImage ResizeBicubicTorch(const DecodedImage& image, int width, int height) {
  if (width == image.width && height == image.height) return image;
  if (width == image.width) return Pass(image, height, /*horizontal=*/false);
  DecodedImage h = Pass(image, width, /*horizontal=*/true);
  if (height == image.height) return h;
  return Pass(h, height, /*horizontal=*/false);
}

StatusOr<VideoPatches> PreprocessVideoFrames(const std::vector<DecodedImage>& frames,
                                             const VideoProcessorConfig& config,
                                             const std::string& name) {
  if (frames.empty()) return InvalidArgument(fmt::format("{}: no frames", name));
  OMNI_ASSIGN_OR_RETURN(ResizedSize size,
                        VideoSize(frames[0].height, frames[0].width, config, name));
  PatchWriter writer(config, static_cast<int64_t>(frames.size()), size.height, size.width);
  DecodedImage resized;
  for (const DecodedImage& f : frames) {
    if (f.width != frames[0].width || f.height != frames[0].height) {
      return InvalidArgument(fmt::format("{}: frames of different sizes ({}x{} and {}x{})", name,
                                         frames[0].width, frames[0].height, f.width, f.height));
    }
    resized = ResizeBicubicTorch(f, size.width, size.height);
    writer.Add(resized);
  }
  VideoPatches out = writer.Finish(resized);
  out.second_per_grid = config.image.temporal_patch_size / config.fps;
  return out;
}

StatusOr<VideoPatches> PreprocessVideo(const std::string& path,
                                       const VideoProcessorConfig& config) {
  OMNI_ASSIGN_OR_RETURN(VideoInfo info, ProbeVideo(path));
  OMNI_ASSIGN_OR_RETURN(std::vector<int64_t> indices,
                        SampleFrameIndices(info.num_frames, info.average_fps, config, path));
  OMNI_ASSIGN_OR_RETURN(ResizedSize size, VideoSize(info.height, info.width, config, path));
  PatchWriter writer(config, static_cast<int64_t>(indices.size()), size.height, size.width);
  DecodedImage resized;
  OMNI_RETURN_IF_ERROR(
      ForEachVideoFrame(path, indices, [&](int64_t index, const DecodedImage& frame) -> Status {
        if (frame.width != info.width || frame.height != info.height) {
          return InvalidArgument(fmt::format(
              "{}: frame {} is {}x{}, the stream's size is {}x{} (size changes are not supported)",
              path, index, frame.width, frame.height, info.width, info.height));
        }
        resized = ResizeBicubicTorch(frame, size.width, size.height);
        writer.Add(resized);
        return Status::Ok();
      }));
  VideoPatches out = writer.Finish(resized);
  out.second_per_grid = config.image.temporal_patch_size / config.fps;
  out.frame_indices = std::move(indices);
  out.video_fps = info.average_fps;
  out.total_frames = info.num_frames;
  return out;
}

}  // namespace omnisage

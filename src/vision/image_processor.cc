#include "vision/image_processor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "io/file.h"
#include "util/json_fields.h"

namespace omnisage {
namespace {

// PIL's bicubic kernel (Resample.c, a = -0.5).
double BicubicFilter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
constexpr double kBicubicSupport = 2.0;
constexpr int kPrecisionBits = 32 - 8 - 2;

// PIL's precompute_coeffs + normalize_coeffs_8bpc: for each output index, the first input index,
// the number of taps and the fixed-point weights (ksize per output).
struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;    // [out, 2]: xmin, count
  std::vector<int32_t> taps;  // [out, ksize]
};

Coefficients Precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(size_t{2} * out_size);
  c.taps.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = BicubicFilter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.taps[static_cast<size_t>(xx) * c.ksize + x] =
          w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    c.bounds[2 * xx] = xmin;
    c.bounds[2 * xx + 1] = xmax;
  }
  return c;
}

uint8_t Clip8(int32_t v) {
  const int32_t s = v >> kPrecisionBits;
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

// One pass along x (horizontal) or y (vertical) of an RGB image.
DecodedImage ResamplePass(const DecodedImage& in, int out_size, bool horizontal) {
  const Coefficients c = Precompute(horizontal ? in.width : in.height, out_size);
  DecodedImage out;
  out.format = in.format;
  out.exif_orientation = in.exif_orientation;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? in.height : out_size;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const int first = c.bounds[2 * o], count = c.bounds[2 * o + 1];
      const int32_t* k = &c.taps[static_cast<size_t>(o) * c.ksize];
      for (int ch = 0; ch < 3; ++ch) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int t = 0; t < count; ++t) {
          const uint8_t v = horizontal ? in.at(y, first + t, ch) : in.at(first + t, x, ch);
          ss += v * k[t];
        }
        out.rgb[(static_cast<size_t>(y) * out.width + x) * 3 + ch] = Clip8(ss);
      }
    }
  }
  return out;
}

StatusOr<std::array<float, 3>> GetTriple(const nlohmann::json& obj, const char* key,
                                         const JsonPath& at) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array() || it->size() != 3) {
    return at.Child(key).Error("must be an array of 3 numbers");
  }
  std::array<float, 3> out{};
  for (int i = 0; i < 3; ++i) {
    if (!(*it)[i].is_number()) {
      return at.Child(key).Error(fmt::format("element {} must be a number", i));
    }
    out[i] = static_cast<float>((*it)[i].get<double>());
  }
  return out;
}

}  // namespace

StatusOr<ImageProcessorConfig> ParseImageProcessorConfig(const std::string& json,
                                                         const std::string& name) {
  OMNI_ASSIGN_OR_RETURN(nlohmann::json j, ParseJson(json, name));
  const JsonPath at(name);
  ImageProcessorConfig c;
  OMNI_ASSIGN_OR_RETURN(int64_t patch, GetInt(j, "patch_size", at));
  OMNI_ASSIGN_OR_RETURN(int64_t temporal, GetInt(j, "temporal_patch_size", at));
  OMNI_ASSIGN_OR_RETURN(int64_t merge, GetInt(j, "merge_size", at));
  if (patch < 1 || patch > 1024 || temporal < 1 || temporal > 16 || merge < 1 || merge > 16) {
    return InvalidArgument(
        fmt::format("{}: patch_size {}, temporal_patch_size {}, merge_size {} out of range", name,
                    patch, temporal, merge));
  }
  c.patch_size = static_cast<int>(patch);
  c.temporal_patch_size = static_cast<int>(temporal);
  c.merge_size = static_cast<int>(merge);
  if (j.contains("min_pixels") || !j.contains("size")) {
    OMNI_ASSIGN_OR_RETURN(c.min_pixels, GetInt(j, "min_pixels", at));
    OMNI_ASSIGN_OR_RETURN(c.max_pixels, GetInt(j, "max_pixels", at));
  } else {
    OMNI_ASSIGN_OR_RETURN(const nlohmann::json* size, GetObject(j, "size", at));
    OMNI_ASSIGN_OR_RETURN(c.min_pixels, GetInt(*size, "shortest_edge", at.Child("size")));
    OMNI_ASSIGN_OR_RETURN(c.max_pixels, GetInt(*size, "longest_edge", at.Child("size")));
  }
  if (c.min_pixels < 1 || c.max_pixels < c.min_pixels) {
    return InvalidArgument(fmt::format("{}: min_pixels {} / max_pixels {} are not a range", name,
                                       c.min_pixels, c.max_pixels));
  }
  OMNI_ASSIGN_OR_RETURN(c.rescale_factor, GetDoubleOr(j, "rescale_factor", at, 1.0 / 255.0));
  OMNI_ASSIGN_OR_RETURN(c.image_mean, GetTriple(j, "image_mean", at));
  OMNI_ASSIGN_OR_RETURN(c.image_std, GetTriple(j, "image_std", at));
  for (int i = 0; i < 3; ++i) {
    if (!(c.image_std[i] > 0)) {
      return InvalidArgument(fmt::format("{}: image_std[{}] must be positive", name, i));
    }
  }
  return c;
}

StatusOr<ImageProcessorConfig> LoadImageProcessorConfig(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseImageProcessorConfig(text, path);
}

StatusOr<ResizedSize> SmartResize(int height, int width, int factor, int64_t min_pixels,
                                  int64_t max_pixels) {
  if (height < 1 || width < 1) {
    return InvalidArgument(fmt::format("image of {}x{} pixels", width, height));
  }
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  if (ratio > 200) {
    return InvalidArgument(
        fmt::format("image of {}x{} pixels: absolute aspect ratio must be smaller than 200, got {}",
                    width, height, ratio));
  }
  // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
  int64_t h = static_cast<int64_t>(std::nearbyint(static_cast<double>(height) / factor)) * factor;
  int64_t w = static_cast<int64_t>(std::nearbyint(static_cast<double>(width) / factor)) * factor;
  const double area = static_cast<double>(int64_t{height} * width);
  if (h * w > max_pixels) {
    const double beta = std::sqrt(area / static_cast<double>(max_pixels));
    h = std::max<int64_t>(factor,
                          static_cast<int64_t>(std::floor(height / beta / factor)) * factor);
    w = std::max<int64_t>(factor, static_cast<int64_t>(std::floor(width / beta / factor)) * factor);
  } else if (h * w < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / area);
    h = static_cast<int64_t>(std::ceil(height * beta / factor)) * factor;
    w = static_cast<int64_t>(std::ceil(width * beta / factor)) * factor;
  }
  return ResizedSize{static_cast<int>(h), static_cast<int>(w)};
}

DecodedImage ResizeBicubic(const DecodedImage& image, int width, int height) {
  // PIL (ImagingResampleInner) runs the horizontal pass first, then the vertical one; a pass whose
  // size is unchanged is skipped.
  if (width == image.width && height == image.height) return image;
  if (width == image.width) return ResamplePass(image, height, /*horizontal=*/false);
  DecodedImage h = ResamplePass(image, width, /*horizontal=*/true);
  if (height == image.height) return h;
  return ResamplePass(h, height, /*horizontal=*/false);
}

StatusOr<ImagePatches> PreprocessImage(const DecodedImage& image,
                                       const ImageProcessorConfig& config,
                                       const std::string& name) {
  auto size =
      SmartResize(image.height, image.width, config.factor(), config.min_pixels, config.max_pixels);
  if (!size.ok()) return InvalidArgument(fmt::format("{}: {}", name, size.status().message()));
  const DecodedImage resized = ResizeBicubic(image, size->width, size->height);

  const int p = config.patch_size, m = config.merge_size, tp = config.temporal_patch_size;
  ImagePatches out;
  out.grid_t = 1;
  out.grid_h = resized.height / p;
  out.grid_w = resized.width / p;
  out.patch_dim = 3 * tp * p * p;
  out.pixels.resize(static_cast<size_t>(out.num_patches()) * out.patch_dim);
  // Rescaled, normalised values of every (channel, u8) pair: the arithmetic depends on nothing
  // else, so a table keeps the per-pixel work a lookup.
  std::array<std::array<float, 256>, 3> table{};
  for (int ch = 0; ch < 3; ++ch) {
    for (int v = 0; v < 256; ++v) {
      const float r = static_cast<float>(v * config.rescale_factor);
      table[ch][v] = (r - config.image_mean[ch]) / config.image_std[ch];
    }
  }
  float* dst = out.pixels.data();
  for (int bh = 0; bh < out.grid_h / m; ++bh) {
    for (int bw = 0; bw < out.grid_w / m; ++bw) {
      for (int ih = 0; ih < m; ++ih) {
        for (int iw = 0; iw < m; ++iw) {
          const int y0 = (bh * m + ih) * p, x0 = (bw * m + iw) * p;
          for (int ch = 0; ch < 3; ++ch) {
            for (int t = 0; t < tp; ++t) {
              for (int py = 0; py < p; ++py) {
                for (int px = 0; px < p; ++px) *dst++ = table[ch][resized.at(y0 + py, x0 + px, ch)];
              }
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace omnisage

// Images into the vision encoder's input patches, exactly as transformers' Qwen2VLImageProcessorPil
// (the PIL path of Qwen2VLImageProcessor, spec §7.1) computes them:
//
//   1. smart_resize: the size (H', W') nearest the image's with both sides multiples of
//      factor = patch_size · merge_size (32) and H'·W' within [min_pixels, max_pixels];
//   2. resize to (H', W') with PIL's bicubic filter (Image.resize(..., BICUBIC) on 8-bit RGB:
//      a = -0.5, the support widened by the scale when shrinking, 22-bit fixed-point weights,
//      horizontal pass then vertical, each rounded to 8 bits); no resampling when the size is
//      unchanged;
//   3. rescale and normalise in float32: v = float(u8 · rescale_factor) (the product in double,
//      as numpy), then (v − mean[c]) / std[c];
//   4. patchify: the frame repeated temporal_patch_size times, cut into patch_size² patches emitted
//      in merge-block order (row block, column block, row in block, column in block), each patch
//      flattened as (channel, time, row, column): 3 · 2 · 16 · 16 = 1536 values.
//
// grid_thw = (1, H'/patch, W'/patch); the thinker sees grid_h · grid_w / merge_size² tokens.
//
// The resize reproduces PIL's integer arithmetic, so the patches match the reference bit for bit
// (tests/golden/vision). Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "media/image_file.h"
#include "util/status.h"

namespace omnisage {

// The Qwen2VLImageProcessor fields of preprocessor_config.json (spec §1.6).
struct ImageProcessorConfig {
  int patch_size = 16;
  int temporal_patch_size = 2;
  int merge_size = 2;
  int64_t min_pixels = 3136;
  int64_t max_pixels = 12845056;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> image_mean = {0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std = {0.5f, 0.5f, 0.5f};

  int factor() const { return patch_size * merge_size; }
};

// Reads the image processor's fields from preprocessor_config.json text (`name` in errors):
// patch_size, temporal_patch_size, merge_size, min_pixels, max_pixels (or size.shortest_edge /
// size.longest_edge), image_mean, image_std are required; rescale_factor defaults to 1/255.
StatusOr<ImageProcessorConfig> ParseImageProcessorConfig(const std::string& json,
                                                         const std::string& name);
StatusOr<ImageProcessorConfig> LoadImageProcessorConfig(const std::string& path);

struct ResizedSize {
  int height = 0;
  int width = 0;
};

// transformers' smart_resize (Python round() is round-half-to-even). An aspect ratio above 200 is
// an error, as in the reference.
StatusOr<ResizedSize> SmartResize(int height, int width, int factor, int64_t min_pixels,
                                  int64_t max_pixels);

// PIL's Image.resize((width, height), Image.BICUBIC) of an 8-bit RGB image.
DecodedImage ResizeBicubic(const DecodedImage& image, int width, int height);

struct ImagePatches {
  std::vector<float> pixels;  // [num_patches, patch_dim], merge-block order
  int grid_t = 1;
  int grid_h = 0;
  int grid_w = 0;
  int patch_dim = 0;  // 3 · temporal_patch_size · patch_size²

  int64_t num_patches() const { return int64_t{grid_t} * grid_h * grid_w; }
};

// Steps 1-4 above for one image; `name` (the file) is used in errors.
StatusOr<ImagePatches> PreprocessImage(const DecodedImage& image,
                                       const ImageProcessorConfig& config, const std::string& name);

}  // namespace omnisage

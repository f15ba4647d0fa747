// The image processor against transformers' Qwen2VLImageProcessorPil (tests/golden/vision, from
// tools/reference/make_vision_golden.py): smart_resize on a list of sizes, and the pixel values of
// PNG files decoded here and by PIL, bit for bit, with and without resampling.
#include "vision/image_processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "source_paths.h"

namespace omnisage {
namespace {

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/";

nlohmann::json Meta() {
  auto text = ReadFileToString(kDir + "meta.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? nlohmann::json::parse(*text) : nlohmann::json();
}

std::vector<float> ReadF32(const std::string& path, size_t n) {
  std::vector<float> v(n);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  EXPECT_EQ(static_cast<size_t>(in.gcount()), n * sizeof(float)) << path;
  return v;
}

// The synth checkpoint's preprocessor_config.json values (spec §1.6).
ImageProcessorConfig RealConfig() {
  const std::string json = R"({"image_processor_type": "Qwen2VLImageProcessor", "patch_size": 16,
      "temporal_patch_size": 2, "merge_size": 2, "min_pixels": 3136, "max_pixels": 12845056,
      "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})";
  auto c = ParseImageProcessorConfig(json, "preprocessor_config.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ImageProcessorConfig{};
}

TEST(ImageProcessorTest, SmartResizeMatchesTransformers) {
  const nlohmann::json meta = Meta();
  ASSERT_GT(meta["smart_resize"].size(), 30u);
  for (const auto& row : meta["smart_resize"]) {
    const int h = row[0], w = row[1];
    const int64_t lo = row[2], hi = row[3];
    auto got = SmartResize(h, w, 32, lo, hi);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->height, row[4].get<int>())
        << h << "x" << w << " in [" << lo << ", " << hi << "]";
    EXPECT_EQ(got->width, row[5].get<int>()) << h << "x" << w << " in [" << lo << ", " << hi << "]";
  }
  auto flat = SmartResize(1, 201, 32, 3136, 12845056);
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().ToString().find("aspect ratio"), std::string::npos);
}

TEST(ImageProcessorTest, PixelValuesMatchTransformersExactly) {
  const nlohmann::json meta = Meta();
  ASSERT_EQ(meta["cases"].size(), 4u);
  for (const auto& c : meta["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    ImageProcessorConfig config = RealConfig();
    if (!c["size"].is_null()) {
      config.min_pixels = c["size"]["shortest_edge"];
      config.max_pixels = c["size"]["longest_edge"];
    }
    auto image = LoadImage(kDir + name + ".png");
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    ASSERT_EQ(image->height, c["height"].get<int>());
    ASSERT_EQ(image->width, c["width"].get<int>());
    auto patches = PreprocessImage(*image, config, name + ".png");
    ASSERT_TRUE(patches.ok()) << patches.status().ToString();
    EXPECT_EQ(patches->grid_t, c["grid_thw"][0].get<int>());
    EXPECT_EQ(patches->grid_h, c["grid_thw"][1].get<int>());
    EXPECT_EQ(patches->grid_w, c["grid_thw"][2].get<int>());
    ASSERT_EQ(patches->num_patches(), c["patches"].get<int64_t>());
    ASSERT_EQ(patches->patch_dim, c["patch_dim"].get<int>());
    const std::vector<float> want = ReadF32(kDir + name + ".f32", patches->pixels.size());
    // Bit-identical, resampled or not (Pillow 12; see docs/vision.md for Pillow 13).
    int64_t mismatches = 0;
    double max_diff = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::memcmp(&want[i], &patches->pixels[i], sizeof(float)) != 0) ++mismatches;
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(want[i] - patches->pixels[i])));
    }
    EXPECT_EQ(mismatches, 0) << "max |diff| " << max_diff;
  }
}

// The merge-block order of spec §7.1, independent of the fixtures: patch n of a 4 x 6 grid is
// (block row, block column, row in block, column in block), values (channel, time, row, column).
TEST(ImageProcessorTest, PatchesAreInMergeBlockOrder) {
  DecodedImage img;
  img.width = 96;
  img.height = 64;
  img.rgb.resize(size_t{96} * 64 * 3);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 96; ++x) {
      for (int ch = 0; ch < 3; ++ch)
        img.rgb[(size_t{y} * 96 + x) * 3 + ch] = (y / 16) * 16 + (x / 16) * 2 + ch;
    }
  }
  auto p = PreprocessImage(img, RealConfig(), "synthetic");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->grid_h, 4);
  ASSERT_EQ(p->grid_w, 6);
  auto value = [](int u8) { return (static_cast<float>(u8 * (1.0 / 255.0)) - 0.5f) / 0.5f; };
  for (int n = 0; n < 24; ++n) {
    const int block = n / 4, in = n % 4;
    const int row = (block / 3) * 2 + in / 2, col = (block % 3) * 2 + in % 2;
    for (int ch = 0; ch < 3; ++ch) {
      for (int t = 0; t < 2; ++t) {
        const float* v = &p->pixels[size_t{n} * 1536 + (ch * 2 + t) * 256];
        EXPECT_EQ(v[0], value(row * 16 + col * 2 + ch)) << n << " " << ch << " " << t;
        EXPECT_EQ(v[255], v[0]);
      }
    }
  }
}

TEST(ImageProcessorTest, ResizeKeepsFlatImagesFlat) {
  DecodedImage img;
  img.width = 37;
  img.height = 23;
  img.rgb.assign(size_t{37} * 23 * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); i += 3)
    img.rgb[i] = 200, img.rgb[i + 1] = 7, img.rgb[i + 2] = 99;
  for (auto [w, h] : {std::pair{64, 32}, {13, 9}, {37, 64}, {5, 23}, {1, 1}}) {
    DecodedImage r = ResizeBicubic(img, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (size_t i = 0; i < r.rgb.size(); i += 3) {
      ASSERT_EQ(r.rgb[i], 200);
      ASSERT_EQ(r.rgb[i + 1], 7);
      ASSERT_EQ(r.rgb[i + 2], 99);
    }
  }
}

TEST(ImageProcessorTest, ConfigErrorsNameTheFileAndField) {
  auto missing = ParseImageProcessorConfig(R"({"patch_size": 16})", "pp.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("pp.json"), std::string::npos);
  EXPECT_NE(missing.status().ToString().find("temporal_patch_size"), std::string::npos);
  auto bad_std = ParseImageProcessorConfig(
      R"({"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "min_pixels": 1,
          "max_pixels": 10, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0, 0.5]})",
      "pp.json");
  ASSERT_FALSE(bad_std.ok());
  EXPECT_NE(bad_std.status().ToString().find("image_std"), std::string::npos);
  auto sized = ParseImageProcessorConfig(
      R"({"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
          "size": {"shortest_edge": 100, "longest_edge": 2000}, "rescale_factor": 0.5,
          "image_mean": [0.1, 0.2, 0.3], "image_std": [1, 2, 3]})",
      "pp.json");
  ASSERT_TRUE(sized.ok()) << sized.status().ToString();
  EXPECT_EQ(sized->min_pixels, 100);
  EXPECT_EQ(sized->max_pixels, 2000);
  EXPECT_EQ(sized->factor(), 28);
  EXPECT_EQ(sized->rescale_factor, 0.5);
  EXPECT_EQ(sized->image_std[2], 3.0f);
}

}  // namespace
}  // namespace omnisage

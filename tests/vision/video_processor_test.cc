// The video processor against transformers 5.25's Qwen3OmniMoeProcessor / Qwen2VLVideoProcessor
// (tests/golden/video, from tools/reference/make_video_golden.py): frame sampling on a table of
// lengths and rates, and the pixel values of whole videos (decode, sample, torch's bicubic resize,
// normalise, patchify) bit for bit.
#include "vision/video_processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "source_paths.h"

namespace omnisage {
namespace {

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/video/";

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

VideoProcessorConfig Config(const nlohmann::json& c) {
  VideoProcessorConfig config = VideoConfigFor(ImageProcessorConfig{});
  config.fps = c["fps"];
  if (!c["size"].is_null()) {
    config.min_pixels = c["size"]["shortest_edge"];
    config.max_pixels = c["size"]["longest_edge"];
  }
  return config;
}

TEST(VideoProcessorTest, DefaultsAreTheProcessors) {
  const nlohmann::json meta = Meta();
  const VideoProcessorConfig c = VideoConfigFor(ImageProcessorConfig{});
  EXPECT_EQ(c.min_pixels, meta["processor_video_size"]["shortest_edge"].get<int64_t>());
  EXPECT_EQ(c.max_pixels, meta["processor_video_size"]["longest_edge"].get<int64_t>());
  EXPECT_EQ(c.min_frames, 4);
  EXPECT_EQ(c.max_frames, 768);
}

TEST(VideoProcessorTest, SampleFramesMatchesTransformers) {
  const nlohmann::json meta = Meta();
  ASSERT_GE(meta["sampling"].size(), 10u);
  for (const auto& s : meta["sampling"]) {
    VideoProcessorConfig c = VideoConfigFor(ImageProcessorConfig{});
    c.fps = s["fps"];
    auto got = SampleFrameIndices(s["frames"], s["video_fps"], c, "clip.mp4");
    const std::string what = s.dump().substr(0, 80);
    if (s.contains("error")) {
      ASSERT_FALSE(got.ok()) << what;
      EXPECT_NE(got.status().message().find("clip.mp4"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(got.ok()) << what << ": " << got.status().ToString();
    EXPECT_EQ(*got, s["indices"].get<std::vector<int64_t>>()) << what;
  }
  VideoProcessorConfig c = VideoConfigFor(ImageProcessorConfig{});
  auto one = SampleFrameIndices(1, 25.0, c, "one.mp4");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("one.mp4"), std::string::npos);
}

TEST(VideoProcessorTest, PixelValuesBitIdenticalToTransformers) {
  const nlohmann::json meta = Meta();
  ASSERT_GE(meta["cases"].size(), 4u);
  for (const auto& c : meta["cases"]) {
    const std::string name = c["name"];
    auto got = PreprocessVideo(kDir + c["video"].get<std::string>(), Config(c));
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().ToString();
    const auto grid = c["grid_thw"].get<std::vector<int>>();
    EXPECT_EQ(got->grid_t, grid[0]) << name;
    EXPECT_EQ(got->grid_h, grid[1]) << name;
    EXPECT_EQ(got->grid_w, grid[2]) << name;
    EXPECT_EQ(got->frame_indices, c["frame_indices"].get<std::vector<int64_t>>()) << name;
    // The processor returns second_per_grid as a float32 tensor.
    EXPECT_EQ(static_cast<float>(got->second_per_grid), c["second_per_grid"].get<float>()) << name;
    const size_t n =
        static_cast<size_t>(c["patches"].get<int64_t>()) * c["patch_dim"].get<size_t>();
    ASSERT_EQ(got->pixels.size(), n) << name;
    if (c.contains("sum")) {
      double sum = 0, sum_sq = 0, sum_iv = 0;
      for (size_t i = 0; i < n; ++i) {
        const double v = got->pixels[i];
        sum += v;
        sum_sq += v * v;
        sum_iv += static_cast<double>(i) * v;
      }
      EXPECT_NEAR(sum, c["sum"].get<double>(), 1e-6 * std::abs(c["sum"].get<double>()) + 1e-3)
          << name;
      EXPECT_NEAR(sum_sq, c["sum_sq"].get<double>(), 1e-9 * c["sum_sq"].get<double>()) << name;
      EXPECT_NEAR(sum_iv, c["sum_iv"].get<double>(), 1e-9 * std::abs(c["sum_iv"].get<double>()))
          << name;
      const auto every = c["every_1009th"].get<std::vector<float>>();
      for (size_t k = 0; k < every.size(); ++k) {
        ASSERT_EQ(got->pixels[k * 1009], every[k]) << name << " value " << k * 1009;
      }
      continue;
    }
    const std::vector<float> want = ReadF32(kDir + name + ".f32", n);
    size_t differ = 0;
    float max_diff = 0;
    for (size_t i = 0; i < n; ++i) {
      differ += got->pixels[i] != want[i];
      max_diff = std::max(max_diff, std::abs(got->pixels[i] - want[i]));
    }
    EXPECT_EQ(differ, 0u) << name << ": max |diff| " << max_diff;
  }
}

TEST(VideoProcessorTest, OneFrameVideoIsAnErrorNamingTheFile) {
  const std::string path = kDir + "one_frame.mkv";
  auto got = PreprocessVideo(path, VideoConfigFor(ImageProcessorConfig{}));
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(path), std::string::npos) << got.status().ToString();
  EXPECT_NE(got.status().message().find("1 frame"), std::string::npos) << got.status().ToString();
}

TEST(VideoProcessorTest, TorchResizeKeepsConstantsAndSkipsSameSize) {
  DecodedImage img;
  img.width = 37;
  img.height = 23;
  img.rgb.assign(static_cast<size_t>(37) * 23 * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = 200;
    img.rgb[i + 1] = 17;
    img.rgb[i + 2] = 255;
  }
  for (auto [w, h] : {std::pair{64, 32}, std::pair{16, 48}, std::pair{37, 96}, std::pair{5, 23}}) {
    const DecodedImage r = ResizeBicubicTorch(img, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (size_t i = 0; i < r.rgb.size(); i += 3) {
      ASSERT_EQ(r.rgb[i], 200) << w << "x" << h;
      ASSERT_EQ(r.rgb[i + 1], 17) << w << "x" << h;
      ASSERT_EQ(r.rgb[i + 2], 255) << w << "x" << h;
    }
  }
  EXPECT_EQ(ResizeBicubicTorch(img, 37, 23).rgb, img.rgb);
}

}  // namespace
}  // namespace omnisage

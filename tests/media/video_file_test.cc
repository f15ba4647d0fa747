// Video files against torchcodec, which transformers 5.25 decodes videos with (tests/golden/video,
// from tools/reference/make_video_golden.py): every frame bit for bit (lossless RGB, H.264 and
// MPEG-4 4:2:0 through both of torchcodec's conversion paths), the exact-mode metadata, the sound
// track resampled to 16 kHz mono; and each bad input an error naming the file.
#include "media/video_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
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

std::string ReadBytes(const std::string& path) {
  auto text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : std::string();
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp/") + "video_file_test_" + name;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void ExpectErrorNaming(const Status& s, const std::string& path, const std::string& what) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.ToString();
}

TEST(VideoFileTest, MetadataMatchesTorchcodecExactMode) {
  const nlohmann::json meta = Meta();
  ASSERT_GE(meta["videos"].size(), 4u);
  for (const auto& v : meta["videos"]) {
    const std::string path = kDir + v["name"].get<std::string>();
    auto info = ProbeVideo(path);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->num_frames, v["num_frames"].get<int64_t>()) << path;
    EXPECT_EQ(info->width, v["width"].get<int>()) << path;
    EXPECT_EQ(info->height, v["height"].get<int>()) << path;
    EXPECT_DOUBLE_EQ(info->average_fps, v["average_fps"].get<double>()) << path;
    EXPECT_DOUBLE_EQ(info->duration_seconds, v["duration_seconds"].get<double>()) << path;
    EXPECT_EQ(info->has_audio, v["audio"].get<bool>()) << path;
  }
}

TEST(VideoFileTest, EveryFrameBitIdenticalToTorchcodec) {
  const nlohmann::json meta = Meta();
  for (const auto& v : meta["videos"]) {
    const std::string path = kDir + v["name"].get<std::string>();
    const int64_t n = v["num_frames"];
    const int w = v["width"], h = v["height"];
    const std::string want = ReadBytes(path + ".frames.u8");
    const size_t frame_bytes = static_cast<size_t>(w) * h * 3;
    ASSERT_EQ(want.size(), frame_bytes * static_cast<size_t>(n)) << path;
    std::vector<int64_t> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[static_cast<size_t>(i)] = i;
    int64_t seen = 0;
    Status s = ForEachVideoFrame(path, all, [&](int64_t index, const DecodedImage& f) -> Status {
      EXPECT_EQ(index, seen);
      EXPECT_EQ(f.width, w);
      EXPECT_EQ(f.height, h);
      size_t differ = 0;
      for (size_t k = 0; k < frame_bytes; ++k) {
        differ +=
            f.rgb[k] != static_cast<uint8_t>(want[static_cast<size_t>(index) * frame_bytes + k]);
      }
      EXPECT_EQ(differ, 0u) << path << " frame " << index << " (" << v["codec"] << ")";
      ++seen;
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(seen, n) << path;
  }
}

TEST(VideoFileTest, SampledFramesInOrderWithRepeats) {
  const std::string path = kDir + "yuv_h264.mp4";
  const std::string all = ReadBytes(path + ".frames.u8");
  const size_t frame_bytes = 64 * 48 * 3;
  std::vector<int64_t> got;
  Status s = ForEachVideoFrame(path, {1, 4, 4, 11}, [&](int64_t i, const DecodedImage& f) {
    got.push_back(i);
    EXPECT_EQ(0, std::memcmp(f.rgb.data(), all.data() + static_cast<size_t>(i) * frame_bytes,
                             frame_bytes))
        << "frame " << i;
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, (std::vector<int64_t>{1, 4, 4, 11}));
  ExpectErrorNaming(
      ForEachVideoFrame(path, {3, 12}, [](int64_t, const DecodedImage&) { return Status::Ok(); }),
      path, "frame index 12");
}

TEST(VideoFileTest, AudioTrackMatchesTorchcodec) {
  const nlohmann::json meta = Meta();
  const std::string path = kDir + "av_ffv1.mkv";
  auto samples = LoadVideoAudio(path, 16000);
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  const std::string want = ReadBytes(path + ".audio.f32");
  ASSERT_EQ(samples->size() * sizeof(float), want.size());
  const auto* ref = reinterpret_cast<const float*>(want.data());
  size_t differ = 0;
  float max_diff = 0;
  for (size_t i = 0; i < samples->size(); ++i) {
    differ += (*samples)[i] != ref[i];
    max_diff = std::max(max_diff, std::abs((*samples)[i] - ref[i]));
  }
  EXPECT_EQ(differ, 0u) << "max |diff| " << max_diff;
}

TEST(VideoFileTest, BadInputNamesTheFile) {
  // Missing.
  const std::string missing = TempPath("missing.mp4");
  std::remove(missing.c_str());
  ExpectErrorNaming(ProbeVideo(missing).status(), missing, "no such file");

  // Not a container.
  const std::string text = TempPath("text.mp4");
  WriteBytes(text, "this is not a video file, only some text\n");
  ExpectErrorNaming(ProbeVideo(text).status(), text, "not a video container");

  // A sound file: no video stream.
  const std::string flac = kDir + "av_ffv1.mkv";
  const std::string only_header = TempPath("header_only.mkv");
  const std::string bytes = ReadBytes(flac);
  // The first cluster starts after the header and track entries; keep the first 300 bytes.
  WriteBytes(only_header, bytes.substr(0, 300));
  Status header = ProbeVideo(only_header).status();
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.message().find(only_header), std::string::npos) << header.ToString();

  // An unknown codec: the Matroska codec id of the video track changed.
  std::string unknown = bytes;
  const size_t at = unknown.find("V_FFV1");
  ASSERT_NE(at, std::string::npos);
  unknown.replace(at, 6, "V_QQQQ");
  const std::string unknown_path = TempPath("unknown_codec.mkv");
  WriteBytes(unknown_path, unknown);
  ExpectErrorNaming(ProbeVideo(unknown_path).status(), unknown_path, "not supported");

  // Truncated: the index (from the packets that remain) has fewer frames, and a frame cut in the
  // middle does not decode.
  const std::string h264 = ReadBytes(kDir + "yuv_h264.mp4");
  const std::string cut = TempPath("truncated.mp4");
  WriteBytes(cut, h264.substr(0, h264.size() * 2 / 3));
  auto info = ProbeVideo(cut);
  if (info.ok()) {
    std::vector<int64_t> all;
    for (int64_t i = 0; i < info->num_frames; ++i) all.push_back(i);
    Status s =
        ForEachVideoFrame(cut, all, [](int64_t, const DecodedImage&) { return Status::Ok(); });
    if (!s.ok()) EXPECT_NE(s.message().find(cut), std::string::npos) << s.ToString();
    EXPECT_LT(info->num_frames, 12);
  } else {
    EXPECT_NE(info.status().message().find(cut), std::string::npos) << info.status().ToString();
  }

  // Truncated Matroska (no index at the end to lose): the cut frame is missing or fails.
  const std::string mkv_cut = TempPath("truncated.mkv");
  WriteBytes(mkv_cut, bytes.substr(0, bytes.size() / 2));
  auto cut_info = ProbeVideo(mkv_cut);
  ASSERT_TRUE(cut_info.ok()) << cut_info.status().ToString();
  EXPECT_LT(cut_info->num_frames, 12);
  std::vector<int64_t> all_cut;
  for (int64_t i = 0; i < cut_info->num_frames; ++i) all_cut.push_back(i);
  int64_t decoded = 0;
  Status cut_status = ForEachVideoFrame(mkv_cut, all_cut, [&](int64_t, const DecodedImage&) {
    ++decoded;
    return Status::Ok();
  });
  if (!cut_status.ok()) {
    EXPECT_NE(cut_status.message().find(mkv_cut), std::string::npos) << cut_status.ToString();
  }
  EXPECT_LE(decoded, cut_info->num_frames);

  // No audio track for --use-audio-in-video.
  const std::string silent = kDir + "yuv_h264.mp4";
  auto audio = LoadVideoAudio(silent, 16000);
  ExpectErrorNaming(audio.status(), silent, "no audio track");
  EXPECT_EQ(audio.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace omnisage

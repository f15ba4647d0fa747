// `omnisage video` on the golden videos (tests/golden/video): the frames sampled, the grid and the
// token counts transformers' processor gives (280 video tokens, 31 audio tokens for the FFV1 + FLAC
// file at 2 fps), and bad input named.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace omnisage {
namespace {

const std::string kDir = std::string(OMNISAGE_SOURCE_DIR) + "/tests/golden/video/";

TEST(VideoCliTest, ReportsTheProcessorsGridAndTokens) {
  CliResult r = RunCli("video --json --use-audio-in-video " + kDir + "av_ffv1.mkv", false);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["frames"], 12);
  EXPECT_EQ(j[0]["sampled_frames"], nlohmann::json({0, 3, 6, 9}));
  EXPECT_EQ(j[0]["grid_thw"], nlohmann::json({2, 20, 28}));
  EXPECT_EQ(j[0]["video_tokens"], 280);
  EXPECT_EQ(j[0]["samples_16k"], 38400);
  EXPECT_EQ(j[0]["audio_tokens"], 31);

  CliResult text = RunCli("video --fps 3 " + kDir + "yuv_h264.mp4");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("6 frames at 3 fps"), std::string::npos) << text.out;
}

TEST(VideoCliTest, BadInputIsAnErrorNamingTheFile) {
  const std::string silent = kDir + "yuv_h264.mp4";
  CliResult r = RunCli("video --use-audio-in-video " + silent);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(silent + ": the video has no audio track"), std::string::npos) << r.out;

  const std::string one = kDir + "one_frame.mkv";
  r = RunCli("video " + one);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(one + ": a video of 1 frame"), std::string::npos) << r.out;

  const std::string missing = kDir + "no_such_video.mp4";
  r = RunCli("video " + missing);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(missing + ": no such file"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

// `omnisage video` on the golden videos (tests/golden/video): the frames sampled, the grid and the
// token counts transformers' processor gives (280 video tokens, 31 audio tokens for the FFV1 + FLAC
// file at 2 fps), and bad input named. Videos in the prompt through the command line: run, eval
// and chat with --video (and --use-audio-in-video), video parts in --messages, /video, and the
// errors a video without decodable frames, an unsupported codec or a silent video heard with its
// sound give.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/video/";

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

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class VideoPromptCliTest : public CliTestDir {
 protected:
  VideoPromptCliTest() : CliTestDir("omnisage_video_prompt_cli_") {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  }
  std::string Model() const { return " --model " + Path("tiny"); }
};

// av_ffv1.mkv at 2 fps: <|vision_start|>, 280 × <|video_pad|>, <|vision_end|>; heard with its sound
// also <|audio_start|>, 31 audio pads interleaved, <|audio_end|>.
TEST_F(VideoPromptCliTest, RunSeesAndHearsAVideo) {
  const std::string video = kDir + "av_ffv1.mkv";
  const std::string ask =
      "run" + Model() + " --context 512 --prompt 'What happens?' " + "--max-tokens 4 --json";
  CliResult text = RunCli(ask);
  CliResult seen = RunCli(ask + " --video " + video);
  CliResult heard = RunCli(ask + " --video " + video + " --use-audio-in-video");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  ASSERT_EQ(seen.exit_code, 0) << seen.out;
  ASSERT_EQ(heard.exit_code, 0) << heard.out;
  const auto jt = nlohmann::json::parse(text.out), js = nlohmann::json::parse(seen.out),
             jh = nlohmann::json::parse(heard.out);
  EXPECT_EQ(js["prompt_tokens"].get<int>(), jt["prompt_tokens"].get<int>() + 282);
  EXPECT_EQ(jh["prompt_tokens"].get<int>(), jt["prompt_tokens"].get<int>() + 282 + 33);
  EXPECT_GT(js["memory"]["vision_encoder_bytes"].get<int64_t>(), 0) << seen.out;
  EXPECT_NE(js["token_ids"], jh["token_ids"]);  // the sound changes the answer's logits
}

TEST_F(VideoPromptCliTest, MessagesWithAVideoPartMatchTheFlag) {
  const std::string video = kDir + "yuv_h264.mp4";
  std::ofstream(Path("m.json")) << R"([{"role": "user", "content": [{"type": "video", "video": ")"
                                << video << R"("}, {"type": "text", "text": "What happens?"}]}])";
  CliResult a = RunCli("run" + Model() + " --context 512 --messages " + Path("m.json") +
                       " --video-fps 3 --max-tokens 4 --json");
  CliResult b = RunCli("run" + Model() + " --context 512 --prompt 'What happens?' --video " +
                       video + " --video-fps 3 --max-tokens 4 --json");
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_EQ(nlohmann::json::parse(a.out)["token_ids"], nlohmann::json::parse(b.out)["token_ids"]);
  CliResult e = RunCli("eval" + Model() + " --messages " + Path("m.json") + " --video-fps 3" +
                       " --logits-out " + Path("logits.f32"));
  ASSERT_EQ(e.exit_code, 0) << e.out;
  EXPECT_TRUE(std::filesystem::exists(Path("logits.f32")));
}

TEST_F(VideoPromptCliTest, ChatTakesVideosBetweenTurns) {
  std::ofstream(Path("turns.txt")) << "/video " << kDir << "yuv_h264.mp4\nWhat happens?\n/video "
                                   << Path("missing.mp4") << "\nAnd now?\n";
  CliResult r = RunCli("chat" + Model() + " --context 1024 --max-tokens 4 < " + Path("turns.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("yuv_h264.mp4: 64x48, 2.0 s, goes with your next message"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("missing.mp4: no such file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vision encoder:"), std::string::npos) << r.out;
}

// Bad videos are errors naming the file: a file FFmpeg cannot open or decode is found before the
// (missing) model is opened; frames that do not decode or are too few when the prompt is prepared.
TEST_F(VideoPromptCliTest, BadVideosAreErrorsNamingTheFile) {
  const std::string bytes = ReadBytes(kDir + "av_ffv1.mkv");
  // The header and track entries only, no frame.
  std::ofstream(Path("no_frames.mkv"), std::ios::binary) << bytes.substr(0, 300);
  // The video track's codec id changed to one FFmpeg does not know.
  std::string unknown = bytes;
  unknown.replace(unknown.find("V_FFV1"), 6, "V_QQQQ");
  std::ofstream(Path("unknown_codec.mkv"), std::ios::binary) << unknown;
  std::ofstream(Path("text.mp4")) << "this is not a video file\n";
  for (const char* name : {"no_frames.mkv", "unknown_codec.mkv", "text.mp4", "missing.mp4"}) {
    CliResult r =
        RunCli("run --model " + Path("no-such-model") + " --prompt hi --video " + Path(name));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.out.find(Path(name) + ": "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("no-such-model"), std::string::npos) << r.out;
  }
  CliResult codec = RunCli("run --model " + Path("no-such-model") + " --prompt hi --video " +
                           Path("unknown_codec.mkv"));
  EXPECT_NE(codec.out.find("not supported"), std::string::npos) << codec.out;
  // A silent video heard with its sound.
  const std::string silent = kDir + "yuv_h264.mp4";
  CliResult r = RunCli("run --model " + Path("no-such-model") +
                       " --prompt hi --use-audio-in-video --video " + silent);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(silent + ": the video has no audio track"), std::string::npos) << r.out;
  // Every frame's data garbled (the packets remain): no frame decodes when the prompt is
  // prepared, an error naming the file.
  std::string garbled = ReadBytes(kDir + "yuv_h264.mp4");
  const size_t mdat = garbled.find("mdat");
  ASSERT_NE(mdat, std::string::npos);
  for (size_t k = mdat + 4; k < std::min(garbled.size(), mdat + 4004); ++k) garbled[k] = '\xff';
  std::ofstream(Path("garbled.mp4"), std::ios::binary) << garbled;
  r = RunCli("run" + Model() + " --context 512 --prompt hi --video " + Path("garbled.mp4"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(Path("garbled.mp4") + ": corrupt or truncated data"), std::string::npos)
      << r.out;
  // Too few frames to sample: refused when the prompt is prepared, naming the file.
  const std::string one = kDir + "one_frame.mkv";
  r = RunCli("run" + Model() + " --prompt hi --video " + one);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(one + ": a video of 1 frame"), std::string::npos) << r.out;
}

TEST_F(VideoPromptCliTest, AModelWithoutAVisionTowerIsAnError) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  CliResult r =
      RunCli("run --model " + Path("moe") + " --prompt hi --video " + kDir + "yuv_h264.mp4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("has no vision encoder"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

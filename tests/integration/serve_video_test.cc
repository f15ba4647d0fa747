// `omnisage serve` with video_url parts over HTTP, on the tiny generated model and the committed
// golden videos (tests/golden/video): a video sent as a data URL is answered as `run --video`
// answers the same file (greedy and seeded sampling, whole and streamed), heard with its sound
// when use_audio_in_video is true as `run --use-audio-in-video` hears it; bad parts, videos too
// long for the server and bodies over its limit are 400s (413) naming the part; the temporary
// files the videos were written to are gone after every request, refused, answered or cancelled.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "serve_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

using json = nlohmann::json;

const httplib::Headers kAuth = {{"Authorization", "Bearer sk-test"}};
const std::string kVideos = ::omnisage::test_paths::SourceDir() + "/tests/golden/video/";

std::string Base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? uint8_t(bytes[i + k]) : 0);
    out += {a[v >> 18], a[(v >> 12) & 63], n > 1 ? a[(v >> 6) & 63] : '=', n > 2 ? a[v & 63] : '='};
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string VideoUrl(const std::string& file, const std::string& type = "video/mp4") {
  return "data:" + type + ";base64," + Base64(ReadFile(kVideos + file));
}

json VideoRequest(const std::vector<std::string>& urls, int max_tokens = 8) {
  json content = json::array();
  for (const std::string& url : urls) {
    content.push_back({{"type", "video_url"}, {"video_url", {{"url", url}}}});
  }
  content.push_back({{"type", "text"}, {"text", "What happens?"}});
  return {{"max_tokens", max_tokens}, {"messages", {{{"role", "user"}, {"content", content}}}}};
}

class ServeVideoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("omnisage_serve_video_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "tmp");
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Model()).exit_code, 0);
    // The server's temporary directory, to see that no video file is left behind.
    setenv("TMPDIR", (dir_ / "tmp").c_str(), 1);
    server_ = new ServeProcess();
    ASSERT_TRUE(server_->Start("--model " + Model() +
                               " --api-key sk-test --max-body 400000 --max-tokens 16 "
                               "--max-prompt-tokens 400 --context 1024"))
        << server_->log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_TRUE(server_ != nullptr && server_->port() > 0) << "the server did not start";
  }
  // The last owner of a video's file may be the scheduler's job or the connection's thread,
  // which let go just after the client has the answer: they are given up to 10 s.
  void TearDown() override {
    for (int i = 0; i < 100 && LeftFiles() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(LeftFiles(), 0) << "temporary video files left in " << (dir_ / "tmp");
  }
  static int LeftFiles() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ / "tmp")) ++n;
    return n;
  }
  static std::string Model() { return (dir_ / "tiny").string(); }

  static std::pair<int, json> Post(const json& body) {
    httplib::Client c = server_->Client();
    auto res = c.Post("/v1/chat/completions", kAuth, body.dump(), "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  static std::string Streamed(json body) {
    body["stream"] = true;
    httplib::Client c = server_->Client();
    StreamResult s = PostStream(c, "/v1/chat/completions", body.dump(), kAuth);
    EXPECT_EQ(s.status, 200) << s.body;
    return StreamedText(s.body, nullptr);
  }
  // What `omnisage run --json` answers for the same prompt.
  static std::string RunAnswer(const std::string& flags) {
    CliResult r = RunCli("run --model " + Model() + " --json --prompt 'What happens?' " + flags,
                         /*with_stderr=*/false);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return json::parse(r.out, nullptr, false).value("text", "<no answer>");
  }
  static void ExpectError(const std::pair<int, json>& r, int status, const std::string& words,
                          const std::string& param = "") {
    EXPECT_EQ(r.first, status) << r.second.dump();
    ASSERT_TRUE(r.second.contains("error")) << r.second.dump();
    const std::string message = r.second["error"]["message"];
    EXPECT_NE(message.find(words), std::string::npos) << message;
    EXPECT_EQ(message.find("omnisage-media-"), std::string::npos) << message;
    if (!param.empty()) {
      EXPECT_EQ(r.second["error"]["param"], param) << r.second.dump();
    }
  }

  static std::filesystem::path dir_;
  static ServeProcess* server_;
};
std::filesystem::path ServeVideoTest::dir_;
ServeProcess* ServeVideoTest::server_ = nullptr;

// yuv_h264.mp4 (H.264) as a data URL: run --video's answer, greedy and sampled with a seed, whole
// and streamed; its video tokens counted in the usage as run counts them.
TEST_F(ServeVideoTest, AVideoIsSeenAsRunSeesTheFile) {
  const std::string file = kVideos + "yuv_h264.mp4";
  auto [tstatus, text_only] =
      Post({{"max_tokens", 8}, {"messages", {{{"role", "user"}, {"content", "What happens?"}}}}});
  ASSERT_EQ(tstatus, 200) << text_only.dump();
  const json req = VideoRequest({VideoUrl("yuv_h264.mp4")});
  auto [status, body] = Post(req);
  ASSERT_EQ(status, 200) << body.dump();
  const std::string answer = body["choices"][0]["message"]["content"];
  EXPECT_EQ(answer, RunAnswer("--max-tokens 8 --video " + file));
  EXPECT_EQ(Streamed(req), answer);
  CliResult video = RunCli("video --json " + file, false);
  ASSERT_EQ(video.exit_code, 0) << video.out;
  const int video_tokens = json::parse(video.out)[0]["video_tokens"];
  EXPECT_EQ(body["usage"]["prompt_tokens"].get<int>(),
            text_only["usage"]["prompt_tokens"].get<int>() + video_tokens + 2);

  json sampled = VideoRequest({VideoUrl("yuv_h264.mp4")}, 12);
  sampled["temperature"] = 0.8;
  sampled["top_k"] = 20;
  sampled["seed"] = 7;
  sampled["ignore_eos"] = true;
  auto [sstatus, sbody] = Post(sampled);
  ASSERT_EQ(sstatus, 200) << sbody.dump();
  const std::string run_sampled = RunAnswer(
      "--max-tokens 12 --temperature 0.8 --top-k 20 --seed 7 --ignore-stop --video " + file);
  EXPECT_EQ(sbody["choices"][0]["message"]["content"], run_sampled);
  EXPECT_EQ(Streamed(sampled), run_sampled);
}

// av_ffv1.mkv (FFV1 + FLAC) heard with its sound: run --use-audio-in-video's answer; 280 video
// and 31 audio tokens between <|audio_start|> and <|audio_end|> (as tests/integration/
// video_cli_test.cc counts them).
TEST_F(ServeVideoTest, UseAudioInVideoHearsItsSoundAsRunDoes) {
  const std::string file = kVideos + "av_ffv1.mkv";
  json req = VideoRequest({VideoUrl("av_ffv1.mkv", "video/x-matroska")});
  auto [seen_status, seen] = Post(req);
  ASSERT_EQ(seen_status, 200) << seen.dump();
  req["use_audio_in_video"] = true;
  auto [status, body] = Post(req);
  ASSERT_EQ(status, 200) << body.dump();
  const std::string answer = body["choices"][0]["message"]["content"];
  EXPECT_EQ(answer, RunAnswer("--max-tokens 8 --use-audio-in-video --video " + file));
  EXPECT_EQ(Streamed(req), answer);
  EXPECT_EQ(body["usage"]["prompt_tokens"].get<int>(),
            seen["usage"]["prompt_tokens"].get<int>() + 33);
}

TEST_F(ServeVideoTest, BadVideoPartsAre400sNamingThePart) {
  const std::string field = "messages[0].content[0].video_url.url";
  ExpectError(Post(VideoRequest({"https://example.com/clip.mp4"})), 400,
              "this server downloads nothing", field);
  ExpectError(Post(VideoRequest({"file:///etc/passwd"})), 400, "this server downloads nothing",
              field);
  ExpectError(Post(VideoRequest({"data:video/mp4;base64," + Base64("not a video at all")})), 400,
              "messages[0].content[0]", field);
  // The header and track entries only (no frame), and a codec FFmpeg does not know: refused
  // when the request is read.
  const std::string mkv = ReadFile(kVideos + "av_ffv1.mkv");
  ExpectError(Post(VideoRequest({"data:video/x-matroska;base64," + Base64(mkv.substr(0, 300))})),
              400, "messages[0].content[0]: ", field);
  std::string unknown = mkv;
  unknown.replace(unknown.find("V_FFV1"), 6, "V_QQQQ");
  ExpectError(Post(VideoRequest({"data:video/x-matroska;base64," + Base64(unknown)})), 400,
              "messages[0].content[0]: ", field);
  // Every frame's data garbled (the packets remain): found when the prompt is prepared, still a
  // 400 naming the part.
  std::string garbled = ReadFile(kVideos + "yuv_h264.mp4");
  const size_t mdat = garbled.find("mdat");
  ASSERT_NE(mdat, std::string::npos);
  for (size_t k = mdat + 4; k < std::min(garbled.size(), mdat + 4004); ++k) garbled[k] = '\xff';
  ExpectError(Post(VideoRequest({"data:video/mp4;base64," + Base64(garbled)})), 400,
              "messages[0].content[0]: corrupt or truncated data");
  // A video of one frame: the processor needs two.
  ExpectError(Post(VideoRequest({VideoUrl("one_frame.mkv", "video/x-matroska")})), 400,
              "messages[0].content[0]: a video of 1 frame");
  // A silent video heard.
  json silent = VideoRequest({VideoUrl("yuv_h264.mp4")});
  silent["use_audio_in_video"] = true;
  ExpectError(Post(silent), 400, "messages[0].content[0]: the video has no audio track", field);
  // Two heard videos are more tokens than this server takes: the parts named with their tokens.
  const std::string av = VideoUrl("av_ffv1.mkv", "video/x-matroska");
  json two = VideoRequest({av, av});
  ExpectError(Post(two), 400,
              "more than this server takes (400): messages[0].content[0] is a video of 280 "
              "tokens, messages[0].content[1] is a video of 280 tokens",
              "messages");
  // Over the body limit (400000 bytes).
  auto [big_status, big] = Post(VideoRequest({av, av, av}));
  EXPECT_EQ(big_status, 413) << big.dump();
  // The server is fine afterwards.
  EXPECT_EQ(Post(VideoRequest({VideoUrl("yuv_h264.mp4")})).first, 200);
}

// A client that goes away mid-answer: the generation is cancelled and the video's file removed.
TEST_F(ServeVideoTest, ADisconnectedVideoStreamLeavesNoFile) {
  json req = VideoRequest({VideoUrl("yuv_h264.mp4")}, 600);
  req["ignore_eos"] = true;
  req["stream"] = true;
  httplib::Client c = server_->Client();
  StreamResult s = PostStream(c, "/v1/chat/completions", req.dump(), kAuth, /*stop_after=*/1);
  EXPECT_FALSE(s.completed);
  // (TearDown waits for the file to go.)
  EXPECT_TRUE(server_->Alive());
}

}  // namespace
}  // namespace omnisage

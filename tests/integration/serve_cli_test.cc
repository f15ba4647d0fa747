// End-to-end tests of `omnisage serve` on the tiny generated model: each endpoint over HTTP
// (httplib's client) on an ephemeral loopback port, answers equal to `omnisage run`'s for the
// same prompt and options, streaming equal to non-streaming, stop strings, audio input, and every
// limit's error (401, 400, 413, 429) as an OpenAI error object.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

// A 16 kHz mono 16-bit WAV of a 440 Hz tone.
std::string WavBytes(double seconds) {
  const int rate = 16000, n = static_cast<int>(seconds * rate);
  std::string data;
  for (int i = 0; i < n; ++i) {
    const auto v = static_cast<int16_t>(8000 * std::sin(2 * M_PI * 440 * i / rate));
    data += static_cast<char>(v & 0xff);
    data += static_cast<char>((v >> 8) & 0xff);
  }
  std::string out = "RIFF";
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  auto u16 = [&](uint16_t v) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  };
  u32(36 + data.size());
  out += "WAVEfmt ";
  u32(16), u16(1), u16(1), u32(rate), u32(rate * 2), u16(2), u16(16);
  out += "data";
  u32(data.size());
  return out + data;
}

std::string Base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  return out;
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("omnisage_serve_cli_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Model()).exit_code, 0);
    server_ = new ServeProcess();
    ASSERT_TRUE(server_->Start(
        "--model " + Model() +
        " --api-key sk-test --max-body 200000 --max-tokens 16 --max-tokens-limit 4000 "
        "--max-prompt-tokens 200 --context 4096"))
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
  static std::string Model() { return (dir_ / "tiny").string(); }
  static std::string Path(const std::string& name) { return (dir_ / name).string(); }

  // POSTs a JSON body with the key; returns the status and the parsed body.
  static std::pair<int, json> Post(const std::string& path, const std::string& body,
                                   const httplib::Headers& headers = kAuth) {
    httplib::Client c = server_->Client();
    auto res = c.Post(path.c_str(), headers, body, "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  // What `omnisage run --json` answers for the same prompt.
  static std::string RunAnswer(const std::string& flags) {
    CliResult r = RunCli("run --model " + Model() + " --json " + flags, /*with_stderr=*/false);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return json::parse(r.out, nullptr, false).value("text", "<no answer>");
  }
  static void ExpectError(const std::pair<int, json>& r, int status, const std::string& words,
                          const std::string& param = "") {
    EXPECT_EQ(r.first, status) << r.second.dump();
    ASSERT_TRUE(r.second.contains("error")) << r.second.dump();
    EXPECT_NE(r.second["error"]["message"].get<std::string>().find(words), std::string::npos)
        << r.second.dump();
    if (!param.empty()) {
      EXPECT_EQ(r.second["error"]["param"], param) << r.second.dump();
    }
  }

  static std::filesystem::path dir_;
  static ServeProcess* server_;
};
std::filesystem::path ServeTest::dir_;
ServeProcess* ServeTest::server_ = nullptr;

TEST_F(ServeTest, HealthModelsAndMetrics) {
  httplib::Client c = server_->Client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto models = c.Get("/v1/models", kAuth);
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "tiny");
  ASSERT_EQ(Post("/v1/completions", R"({"prompt": "hi", "max_tokens": 3})").first, 200);
  // A streamed (chunked) answer is counted once its last byte is out: the client may be first.
  auto metrics = c.Get("/metrics");
  for (int i = 0; i < 50 && metrics && metrics->body.find("/v1/completions") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = c.Get("/metrics");
  }
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  for (const char* name :
       {"omnisage_tokens_per_second", "omnisage_requests_in_flight",
        "omnisage_completion_tokens_total", "omnisage_memory_ledger_bytes{kind=\"dense\"}",
        "omnisage_memory_ledger_bytes{kind=\"kv_cache\"}",
        "omnisage_http_requests_total{path=\"/v1/completions\",status=\"200\"}"}) {
    EXPECT_NE(metrics->body.find(name), std::string::npos) << name << "\n" << metrics->body;
  }
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<html"), std::string::npos);
}

TEST_F(ServeTest, ChatAnswerIsRunsAnswer) {
  auto [status, body] = Post("/v1/chat/completions",
                             R"({"model": "tiny", "max_tokens": 12,
                                 "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Hello there"}]})");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"],
            RunAnswer("--max-tokens 12 --system 'Be brief.' --prompt 'Hello there'"));
  const json& usage = body["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 5);
  EXPECT_GE(usage["completion_tokens"].get<int>(), 1);
  EXPECT_LE(usage["completion_tokens"].get<int>(), 12);
  EXPECT_EQ(usage["total_tokens"],
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
}

TEST_F(ServeTest, StreamedAnswerEqualsTheWholeOne) {
  const std::string request =
      R"({"max_tokens": 16, "temperature": 0.8, "top_k": 20, "seed": 7, "ignore_eos": true,
          "messages": [{"role": "user", "content": "Count to ten"}])";
  auto [status, whole] = Post("/v1/chat/completions", request + "}");
  ASSERT_EQ(status, 200) << whole.dump();
  httplib::Client c = server_->Client();
  StreamResult s = PostStream(
      c, "/v1/chat/completions",
      request + R"(, "stream": true, "stream_options": {"include_usage": true}})", kAuth);
  ASSERT_TRUE(s.completed);
  ASSERT_EQ(s.status, 200) << s.body;
  std::vector<json> chunks;
  EXPECT_EQ(StreamedText(s.body, &chunks), whole["choices"][0]["message"]["content"]);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(chunks.back()["usage"], whole["usage"]);
  EXPECT_EQ(whole["usage"]["completion_tokens"], 16);
  EXPECT_NE(s.body.find("data: [DONE]\n\n"), std::string::npos);
  // The same seed gives the same sampled answer; another seed (almost surely) another one.
  auto again = Post("/v1/chat/completions", request + "}");
  EXPECT_EQ(again.second["choices"][0]["message"]["content"],
            whole["choices"][0]["message"]["content"]);
}

TEST_F(ServeTest, CompletionIsRunsRawAnswer) {
  auto [status, body] = Post("/v1/completions", R"({"prompt": "The sky is", "max_tokens": 10})");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], RunAnswer("--raw --max-tokens 10 --prompt 'The sky is'"));
  httplib::Client c = server_->Client();
  StreamResult s = PostStream(
      c, "/v1/completions", R"({"prompt": "The sky is", "max_tokens": 10, "stream": true})", kAuth);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(StreamedText(s.body, nullptr), body["choices"][0]["text"]);
}

TEST_F(ServeTest, StopStringEndsTheAnswerBeforeIt) {
  const std::string base =
      R"({"max_tokens": 24, "ignore_eos": true, "messages": [{"role": "user", "content": "Tell me a story"}])";
  auto full = Post("/v1/chat/completions", base + "}");
  ASSERT_EQ(full.first, 200);
  const std::string text = full.second["choices"][0]["message"]["content"];
  ASSERT_GE(text.size(), 12u) << text;
  const std::string stop = text.substr(text.size() / 2, 3);
  const std::string expected = text.substr(0, text.find(stop));
  json req = json::parse(base + "}");
  req["stop"] = {stop};
  auto cut = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(cut.first, 200) << cut.second.dump();
  EXPECT_EQ(cut.second["choices"][0]["message"]["content"], expected);
  EXPECT_EQ(cut.second["choices"][0]["finish_reason"], "stop");
  req["stream"] = true;
  httplib::Client c = server_->Client();
  StreamResult s = PostStream(c, "/v1/chat/completions", req.dump(), kAuth);
  EXPECT_EQ(StreamedText(s.body, nullptr), expected);
}

TEST_F(ServeTest, AudioPartIsHeardAsRunHearsTheFile) {
  const std::string wav = WavBytes(0.7);
  std::ofstream(Path("clip.wav"), std::ios::binary) << wav;
  json req = {
      {"max_tokens", 8},
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "input_audio"}, {"input_audio", {{"data", Base64(wav)}, {"format", "wav"}}}},
           {{"type", "text"}, {"text", "What is this?"}}}}}}}};
  auto [status, body] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["choices"][0]["message"]["content"],
            RunAnswer("--max-tokens 8 --audio " + Path("clip.wav") + " --prompt 'What is this?'"));
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 15);  // the clip's 9 tokens included
  // Not base64, not a sound.
  req["messages"][0]["content"][0]["input_audio"]["data"] = "%%%";
  ExpectError(Post("/v1/chat/completions", req.dump()), 400, "not base64",
              "messages[0].content[0].input_audio.data");
  req["messages"][0]["content"][0]["input_audio"]["data"] = Base64("not a sound file at all");
  ExpectError(Post("/v1/chat/completions", req.dump()), 400, "messages[0].content[0]");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

json ImageRequest(const std::string& url, int max_tokens = 8) {
  return {{"max_tokens", max_tokens},
          {"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "image_url"}, {"image_url", {{"url", url}}}},
               {{"type", "text"}, {"text", "What is this?"}}}}}}}};
}

// An image_url data URL is seen as `run --image` sees the same file: PNG, JPEG and WebP (96×64:
// 6 image tokens between <|vision_start|> and <|vision_end|>), whole and streamed. exact.jpg
// (quality 90) and exact.webp (lossless) are exact.png saved by Pillow 12.
TEST_F(ServeTest, ImagePartIsSeenAsRunSeesTheFile) {
  const std::string golden = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/";
  auto [tstatus, text_only] = Post(
      "/v1/chat/completions",
      json({{"max_tokens", 8}, {"messages", {{{"role", "user"}, {"content", "What is this?"}}}}})
          .dump());
  ASSERT_EQ(tstatus, 200) << text_only.dump();
  for (const auto& [file, type] : std::vector<std::pair<std::string, std::string>>{
           {"exact.png", "image/png"}, {"exact.jpg", "image/jpeg"}, {"exact.webp", "image/webp"}}) {
    const std::string url = "data:" + type + ";base64," + Base64(ReadFile(golden + file));
    auto [status, body] = Post("/v1/chat/completions", ImageRequest(url).dump());
    ASSERT_EQ(status, 200) << file << ": " << body.dump();
    const std::string answer = body["choices"][0]["message"]["content"];
    EXPECT_EQ(answer,
              RunAnswer("--max-tokens 8 --image " + golden + file + " --prompt 'What is this?'"))
        << file;
    EXPECT_EQ(body["usage"]["prompt_tokens"].get<int>(),
              text_only["usage"]["prompt_tokens"].get<int>() + 8)
        << file;
    json req = ImageRequest(url);
    req["stream"] = true;
    httplib::Client c = server_->Client();
    StreamResult s = PostStream(c, "/v1/chat/completions", req.dump(), kAuth);
    ASSERT_EQ(s.status, 200) << file << ": " << s.body;
    EXPECT_EQ(StreamedText(s.body, nullptr), answer) << file;
  }
  // Sampled with a seed: the same tokens as run --image with the same seed.
  const std::string golden_png = golden + "exact.png";
  json sampled = ImageRequest("data:image/png;base64," + Base64(ReadFile(golden_png)), 12);
  sampled["temperature"] = 0.8;
  sampled["top_k"] = 20;
  sampled["seed"] = 7;
  sampled["ignore_eos"] = true;
  auto [sstatus, sbody] = Post("/v1/chat/completions", sampled.dump());
  ASSERT_EQ(sstatus, 200) << sbody.dump();
  EXPECT_EQ(sbody["choices"][0]["message"]["content"],
            RunAnswer("--max-tokens 12 --temperature 0.8 --top-k 20 --seed 7 --ignore-stop "
                      "--image " +
                      golden_png + " --prompt 'What is this?'"));
  // Two images in one message.
  const std::string png = "data:image/png;base64," + Base64(ReadFile(golden + "exact.png"));
  json two = ImageRequest(png);
  two["messages"][0]["content"].insert(two["messages"][0]["content"].begin(),
                                       two["messages"][0]["content"][0]);
  auto [status2, body2] = Post("/v1/chat/completions", two.dump());
  ASSERT_EQ(status2, 200) << body2.dump();
  EXPECT_EQ(body2["choices"][0]["message"]["content"],
            RunAnswer("--max-tokens 8 --image " + golden + "exact.png --image " + golden +
                      "exact.png --prompt 'What is this?'"));
}

TEST_F(ServeTest, BadImagePartsAre400NamingThePart) {
  const std::string field = "messages[0].content[0].image_url.url";
  ExpectError(Post("/v1/chat/completions", ImageRequest("https://example.com/cat.png").dump()), 400,
              "only data URLs are accepted", field);
  ExpectError(Post("/v1/chat/completions", ImageRequest("file:///etc/passwd").dump()), 400,
              "only data URLs are accepted", field);
  ExpectError(Post("/v1/chat/completions", ImageRequest("data:image/png,abc").dump()), 400,
              "must be base64", field);
  ExpectError(Post("/v1/chat/completions", ImageRequest("data:image/png;base64,%%%").dump()), 400,
              "not base64", field);
  ExpectError(Post("/v1/chat/completions",
                   ImageRequest("data:image/png;base64," + Base64("not an image at all")).dump()),
              400, "messages[0].content[0]", field);
  const std::string png =
      ReadFile(::omnisage::test_paths::SourceDir() + "/tests/golden/vision/exact.png");
  ExpectError(
      Post("/v1/chat/completions",
           ImageRequest("data:image/png;base64," + Base64(png.substr(0, png.size() / 2))).dump()),
      400, "messages[0].content[0]", field);
  json req = ImageRequest("data:image/png;base64," + Base64(png));
  req["messages"][0]["content"][0] = {{"type", "image_url"}, {"image_url", {{"detail", "low"}}}};
  ExpectError(Post("/v1/chat/completions", req.dump()), 400, "image_url needs", field);
  // The server is fine afterwards.
  EXPECT_EQ(
      Post("/v1/chat/completions", ImageRequest("data:image/png;base64," + Base64(png)).dump())
          .first,
      200);
}

TEST_F(ServeTest, PartsThisBuildCannotTakeAre400) {
  json req = {{"messages",
               {{{"role", "user"},
                 {"content",
                  {{{"type", "video"}, {"video", "/etc/passwd"}},
                   {{"type", "text"}, {"text", "What is this?"}}}}}}}};
  ExpectError(Post("/v1/chat/completions", req.dump()), 400,
              "a video part is {\"type\": \"video_url\"", "messages[0].content[0].type");
  req["messages"][0]["content"][0] = {{"type", "hologram"}};
  ExpectError(Post("/v1/chat/completions", req.dump()), 400,
              "unknown content part type 'hologram'");
  ExpectError(
      Post("/v1/chat/completions",
           R"({"modalities": ["text", "audio"], "messages": [{"role": "user", "content": "hi"}]})"),
      400, "--speech", "modalities");
}

TEST_F(ServeTest, BadRequestsGetOpenAiErrors) {
  ExpectError(Post("/v1/chat/completions", "{\"messages\": [", kAuth), 400, "not valid JSON");
  ExpectError(Post("/v1/chat/completions", "[1, 2]"), 400, "must be a JSON object");
  ExpectError(Post("/v1/chat/completions", R"({"messages": []})"), 400, "non-empty", "messages");
  ExpectError(Post("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "hi"}], "top_p": 2})"),
              400, "top_p must be between 0 and 1 (got 2)", "top_p");
  ExpectError(Post("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000})"),
              400, "max_tokens 5000 is more than this server allows (4000)", "max_tokens");
  ExpectError(Post("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})"),
              400, "temperature must be a number", "temperature");
  ExpectError(
      Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "n": 2})"),
      400, "n is not supported", "n");
  ExpectError(Post("/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "hi"}]})"),
              400, "robot");
  ExpectError(Post("/v1/completions", R"({"prompt": 42})"), 400, "prompt must be", "prompt");
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "word ";
  ExpectError(Post("/v1/completions", json({{"prompt", long_prompt}}).dump()), 400,
              "more than this server takes (200)");
  // A wrong key, no key; the key is not needed for /health.
  ExpectError(Post("/v1/completions", R"({"prompt": "hi"})", {{"Authorization", "Bearer nope"}}),
              401, "API key");
  ExpectError(Post("/v1/completions", R"({"prompt": "hi"})", {}), 401, "API key");
  // A body over --max-body.
  ExpectError(Post("/v1/completions", json({{"prompt", std::string(300000, 'a')}}).dump()), 413,
              "larger than this server takes");
  ExpectError(Post("/v1/nothing", "{}"), 404, "no such endpoint");
  EXPECT_TRUE(server_->Alive());
}

TEST_F(ServeTest, ADisconnectedStreamIsCancelled) {
  auto cancelled = [&] {
    httplib::Client c = server_->Client();
    auto m = c.Get("/metrics");
    const std::string key = "omnisage_generations_total{outcome=\"cancelled\"} ";
    const size_t at = m ? m->body.find(key) : std::string::npos;
    return at == std::string::npos ? -1 : std::stoi(m->body.substr(at + key.size()));
  };
  const int before = cancelled();
  httplib::Client c = server_->Client();
  StreamResult s = PostStream(
      c, "/v1/completions",
      R"({"prompt": "Once upon a time", "max_tokens": 3900, "ignore_eos": true, "stream": true})",
      kAuth,
      /*stop_after=*/1);
  EXPECT_FALSE(s.completed);
  // The server notices at its next write and stops the generation.
  for (int i = 0; i < 100 && cancelled() <= before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(cancelled(), before + 1);
  EXPECT_TRUE(server_->Alive());
}

// A server with no room to queue: requests beyond the running one get 429 with a JSON error.
TEST(ServeQueueTest, AFullQueueIs429) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_queue_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(RunCli("synth --preset tiny --out " + (dir / "tiny").string()).exit_code, 0);
  ServeProcess server;
  ASSERT_TRUE(server.Start("--model " + (dir / "tiny").string() +
                           " --max-batch 1 --max-queue 0 --context 4096"))
      << server.log();
  std::vector<int> statuses(6);
  std::vector<std::string> bodies(6);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c = server.Client();
      auto res =
          c.Post("/v1/completions", R"({"prompt": "Once", "max_tokens": 4000, "ignore_eos": true})",
                 "application/json");
      statuses[i] = res ? res->status : 0;
      bodies[i] = res ? res->body : "";
    });
  }
  for (std::thread& t : clients) t.join();
  int ok = 0, busy = 0;
  for (int i = 0; i < 6; ++i) {
    if (statuses[i] == 200) ++ok;
    if (statuses[i] == 429) {
      ++busy;
      EXPECT_NE(bodies[i].find("\"rate_limit_error\""), std::string::npos) << bodies[i];
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
  EXPECT_EQ(ok + busy, 6);
  EXPECT_TRUE(server.Alive());
  EXPECT_EQ(WEXITSTATUS(server.Stop()), 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

namespace omnisage {
namespace {

std::string Unbase64(const std::string& text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = std::strchr(a, ch);
    if (ch == '=' || at == nullptr) break;
    acc = (acc << 6) | static_cast<uint32_t>(at - a);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// --speech on a model whose talker cannot be loaded (here: a qwen3_moe model, which has none)
// serves text and says why in the log and in each spoken request's 400.
TEST(ServeSpeechTest, ATalkerThatDoesNotLoadLeavesTextAnswers) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_no_talker_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const std::string model = (dir / "moe").string();
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + model).exit_code, 0);
  ServeProcess server;
  ASSERT_TRUE(server.Start("--model " + model + " --speech")) << server.log();
  EXPECT_NE(server.log().find("--speech:"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("serving text only"), std::string::npos) << server.log();
  httplib::Client c = server.Client();
  auto text = c.Post("/v1/chat/completions",
                     R"({"max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})",
                     "application/json");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200) << text->body;
  auto spoken = c.Post("/v1/chat/completions",
                       R"({"max_tokens": 4, "modalities": ["text", "audio"],
                           "messages": [{"role": "user", "content": "hi"}]})",
                       "application/json");
  ASSERT_TRUE(spoken);
  EXPECT_EQ(spoken->status, 400);
  EXPECT_NE(spoken->body.find("the talker could not be loaded"), std::string::npos) << spoken->body;
  std::filesystem::remove_all(dir);
}

// Spoken answers: a WAV (24 kHz mono 16-bit) with the text as its transcript, and the same samples
// streamed as pcm16 chunks.
TEST(ServeSpeechTest, SpokenAnswersAsWavAndStreamedPcm) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_speech_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const std::string model = (dir / "tiny").string();
  ASSERT_EQ(RunCli("synth --preset tiny --out " + model).exit_code, 0);
  ServeProcess server;
  ASSERT_TRUE(server.Start("--model " + model + " --speech --speak-max-frames 40")) << server.log();
  httplib::Client c = server.Client();
  json req = {{"max_tokens", 6},
              {"modalities", {"text", "audio"}},
              {"audio", {{"voice", "chelsie"}, {"format", "wav"}}},
              {"messages", {{{"role", "user"}, {"content", "Say hi"}}}}};
  auto res = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body.substr(0, 500);
  const json whole = json::parse(res->body);
  const json& message = whole["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  const std::string wav = Unbase64(message["audio"]["data"]);
  ASSERT_GT(wav.size(), 44u);
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(static_cast<uint8_t>(wav[24]) | (static_cast<uint8_t>(wav[25]) << 8), 24000);
  req.erase("modalities");
  auto text = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(text);
  EXPECT_EQ(message["audio"]["transcript"],
            json::parse(text->body)["choices"][0]["message"]["content"]);

  req["modalities"] = {"text", "audio"};
  req["audio"]["format"] = "pcm16";
  req["stream"] = true;
  StreamResult s = PostStream(c, "/v1/chat/completions", req.dump());
  ASSERT_EQ(s.status, 200);
  std::vector<json> chunks;
  StreamedText(s.body, &chunks);
  std::string pcm, transcript;
  for (const json& chunk : chunks) {
    if (chunk["choices"].empty() || !chunk["choices"][0]["delta"].contains("audio")) continue;
    const json& audio = chunk["choices"][0]["delta"]["audio"];
    if (audio.contains("data")) pcm += Unbase64(audio["data"]);
    if (audio.contains("transcript")) transcript += audio["transcript"].get<std::string>();
  }
  EXPECT_EQ(pcm, wav.substr(44));
  EXPECT_EQ(transcript, message["audio"]["transcript"]);
  // An unknown voice names the model's speakers.
  req["audio"]["voice"] = "nobody";
  auto bad = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("chelsie"), std::string::npos) << bad->body;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

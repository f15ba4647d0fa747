// The web chat in a headless browser (Debian's chromium): the page at / sends a message (its
// ?prompt= hook), streams the answer and draws the expert-cache panel; the test reads the DOM the
// browser dumps and checks the answer against the API's and the panel against the server's
// counts. Skipped, saying so, only when no chromium is installed (scripts/install-deps.sh
// installs it).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_runner.h"
#include "serve_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

using json = nlohmann::json;

// The first of chromium's names on PATH, or "".
std::string FindChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) continue;
    char buf[512] = {};
    const bool found = fgets(buf, sizeof(buf), p) != nullptr;
    pclose(p);
    if (found) {
      std::string path(buf);
      while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
      return path;
    }
  }
  return "";
}

// Runs a shell command and returns its stdout.
std::string Capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Text as the DOM serialiser escapes it, back to text.
std::string Unescape(std::string s) {
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"&lt;", "<"},
                                                        {"&gt;", ">"},
                                                        {"&quot;", "\""},
                                                        {"&nbsp;", "\xC2\xA0"},
                                                        {"&amp;", "&"}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  return s;
}

// Percent-encodes `s` for a query string.
std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= uint8_t(bytes[i + 2]);
    out += {a[v >> 18], a[(v >> 12) & 63], i + 1 < bytes.size() ? a[(v >> 6) & 63] : '=',
            i + 2 < bytes.size() ? a[v & 63] : '='};
  }
  return out;
}

// Opens http://127.0.0.1:PORT/QUERY in headless chromium against a fresh server (`start` makes
// one) and returns the DOM it dumps once the page's answer is done. Headless chromium dumps the
// DOM once its virtual time runs out, and its virtual time can run out while an answer is still
// arriving over the (real) network, so an attempt whose page is not done yet is repeated (at
// most 4 times), each on a fresh server, so that the server's counts are of the one answer.
std::string DoneDom(const std::string& chromium, const std::filesystem::path& profile,
                    const std::function<std::unique_ptr<ServeProcess>()>& start,
                    const std::string& query, std::unique_ptr<ServeProcess>* server) {
  std::string dom;
  for (int attempt = 0; attempt < 4; ++attempt) {
    *server = start();
    if (*server == nullptr) return "";
    const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/" + query;
    dom = Capture("timeout 120 " + chromium +
                  " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                  " --disable-background-networking --disable-component-update --disable-sync"
                  " --user-data-dir=" +
                  profile.string() + " --virtual-time-budget=20000 --dump-dom '" + url +
                  "' 2>/dev/null");
    if (dom.find("data-state=\"done\"") != std::string::npos) {
      ::testing::Test::RecordProperty("attempts", attempt + 1);
      break;
    }
    std::cerr << "attempt " << attempt + 1 << ": the page was not done when chromium dumped it\n";
  }
  return dom;
}

// The answer the page shows: its text and usage.
struct ShownAnswer {
  bool found = false;
  int prompt_tokens = 0, completion_tokens = 0;
  std::string text;
};
ShownAnswer Shown(const std::string& dom) {
  std::smatch m;
  const std::regex answer_re(
      "<div class=\"msg assistant\" id=\"answer-1\" data-prompt-tokens=\"(\\d+)\" "
      "data-completion-tokens=\"(\\d+)\" data-done=\"1\">([^<]*)<div class=\"meta\">");
  ShownAnswer a;
  if (!std::regex_search(dom, m, answer_re)) return a;
  a.found = true;
  a.prompt_tokens = std::stoi(m[1]);
  a.completion_tokens = std::stoi(m[2]);
  a.text = Unescape(m[3]);
  return a;
}

TEST(ServeBrowserTest, TheWebChatStreamsAnAnswerAndDrawsTheCachePanel) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it): the web "
                    "chat was not tested in a browser";
  }
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_browser_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "profile");
  const std::string model = (dir / "tiny").string();
  ASSERT_EQ(RunCli("synth --preset tiny --out " + model).exit_code, 0);
  std::unique_ptr<ServeProcess> server;
  const std::string dom = DoneDom(
      chromium, dir / "profile",
      [&]() -> std::unique_ptr<ServeProcess> {
        auto s = std::make_unique<ServeProcess>();
        if (!s->Start("--model " + model + " --budget 50%")) {
          ADD_FAILURE() << s->log();
          return nullptr;
        }
        return s;
      },
      "?prompt=Hello%20there&max_tokens=10&sync=1", &server);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(dom.find("data-state=\"done\""), std::string::npos)
      << dom.substr(std::min(dom.size(), dom.find("<body")), 3000);
  ASSERT_NE(dom.find("data-panel=\"ready\""), std::string::npos);

  // The cache as the server counts it, before anything else runs.
  httplib::Client c = server->Client();
  auto cache = c.Get("/v1/omnisage/cache");
  ASSERT_TRUE(cache && cache->status == 200);
  const json snapshot = json::parse(cache->body);

  // The answer: the API's for the same request (greedy).
  const ShownAnswer shown = Shown(dom);
  ASSERT_TRUE(shown.found) << dom.substr(0, 4000);
  const int prompt_tokens = shown.prompt_tokens, completion_tokens = shown.completion_tokens;
  auto res = c.Post("/v1/chat/completions",
                    R"({"messages": [{"role": "user", "content": "Hello there"}],
                        "max_tokens": 10, "temperature": 0})",
                    "application/json");
  ASSERT_TRUE(res && res->status == 200);
  const json api = json::parse(res->body);
  EXPECT_EQ(shown.text, api["choices"][0]["message"]["content"]);
  EXPECT_EQ(prompt_tokens, api["usage"]["prompt_tokens"]);
  EXPECT_EQ(completion_tokens, api["usage"]["completion_tokens"]);

  // The panel: one cell per (MoE layer, expert), each titled with the server's counts, lit for
  // the experts this answer used; together they count every use of every token's k experts.
  const int layers = static_cast<int>(snapshot["moe_layers"].size());
  const int experts = snapshot["experts"];
  const std::regex cell_re(
      "<div class=\"cell( resident| hit| miss)?\" title=\"layer (\\d+), expert (\\d+): (\\d+) "
      "hits, (\\d+) misses(, resident)?\"></div>");
  int cells = 0, lit = 0, uses = 0, misses = 0;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), cell_re);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& cell = *it;
    const int layer = std::stoi(cell[2]), expert = std::stoi(cell[3]);
    const int hits = std::stoi(cell[4]), miss = std::stoi(cell[5]);
    EXPECT_EQ(hits, snapshot["hits"][layer][expert]) << layer << "/" << expert;
    EXPECT_EQ(miss, snapshot["misses"][layer][expert]) << layer << "/" << expert;
    if (cell[1] == " hit" || cell[1] == " miss") ++lit;
    ++cells;
    uses += hits + miss;
    misses += miss;
  }
  EXPECT_EQ(cells, layers * experts);
  EXPECT_GT(lit, 0);
  EXPECT_GT(misses, 0) << "under a 50% budget the first answer loads experts";
  // Every token the model ran (the prompt, and each generated token but the last) used k
  // experts in each MoE layer.
  const int k = 2;  // the tiny preset's num_experts_per_tok
  EXPECT_EQ(uses, (prompt_tokens + completion_tokens - 1) * k * layers);
  // The ledger bar has a segment for the expert cache.
  EXPECT_NE(dom.find("class=\"ledger-expert_cache\""), std::string::npos);
  EXPECT_TRUE(server->Alive());
  std::filesystem::remove_all(dir);
}

// An image attached in the page (?image= takes the Image button's path: an image_url part with a
// data URL before the text) reaches the model: the page shows the API's answer to the same image
// and text, and its prompt counts the image's tokens.
TEST(ServeBrowserTest, AnAttachedImageReachesTheModel) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it): the web "
                    "chat was not tested in a browser";
  }
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_browser_image_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "profile");
  const std::string model = (dir / "tiny").string();
  ASSERT_EQ(RunCli("synth --preset tiny --out " + model).exit_code, 0);
  std::ifstream in(::omnisage::test_paths::SourceDir() + "/tests/golden/vision/exact.png",
                   std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string data_url = "data:image/png;base64," + Base64(png);
  std::unique_ptr<ServeProcess> server;
  const std::string dom = DoneDom(
      chromium, dir / "profile",
      [&]() -> std::unique_ptr<ServeProcess> {
        auto s = std::make_unique<ServeProcess>();
        if (!s->Start("--model " + model)) {
          ADD_FAILURE() << s->log();
          return nullptr;
        }
        return s;
      },
      "?prompt=What%20is%20this%3F&max_tokens=8&sync=1&image=" + UrlEncode(data_url), &server);
  ASSERT_NE(server, nullptr);
  const ShownAnswer shown = Shown(dom);
  ASSERT_TRUE(shown.found) << dom.substr(std::min(dom.size(), dom.find("<body")), 3000);
  httplib::Client c = server->Client();
  const json request = {{"max_tokens", 8},
                        {"temperature", 0},
                        {"messages",
                         {{{"role", "user"},
                           {"content",
                            {{{"type", "image_url"}, {"image_url", {{"url", data_url}}}},
                             {{"type", "text"}, {"text", "What is this?"}}}}}}}};
  auto res = c.Post("/v1/chat/completions", request.dump(), "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  const json api = json::parse(res->body);
  EXPECT_EQ(shown.text, api["choices"][0]["message"]["content"]);
  EXPECT_EQ(shown.prompt_tokens, api["usage"]["prompt_tokens"]);
  // The image's 6 tokens and its two markers are in the prompt the page sent.
  auto text_only = c.Post("/v1/chat/completions",
                          R"({"messages": [{"role": "user", "content": "What is this?"}],
                              "max_tokens": 1})",
                          "application/json");
  ASSERT_TRUE(text_only && text_only->status == 200);
  EXPECT_EQ(shown.prompt_tokens,
            json::parse(text_only->body)["usage"]["prompt_tokens"].get<int>() + 8);
  EXPECT_TRUE(server->Alive());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

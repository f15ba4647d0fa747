// The web chat in a headless browser (Debian's chromium): the page at / sends a message (its
// ?prompt= hook), streams the answer and draws the expert-cache panel; the test reads the DOM the
// browser dumps and checks the answer against the API's and the panel against the server's
// counts. Skipped, saying so, only when no chromium is installed (scripts/install-deps.sh
// installs it).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_runner.h"
#include "serve_runner.h"

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
  // Headless chromium dumps the DOM once its virtual time runs out, and its virtual time can run
  // out while a streamed answer is still arriving over the (real) network. So an attempt whose
  // page is not done yet is repeated, each on a fresh server, so that the counts below are of
  // the one answer.
  std::unique_ptr<ServeProcess> server;
  std::string dom;
  for (int attempt = 0; attempt < 4; ++attempt) {
    server = std::make_unique<ServeProcess>();
    ASSERT_TRUE(server->Start("--model " + model + " --budget 50%")) << server->log();
    const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) +
                            "/?prompt=Hello%20there&max_tokens=10&sync=1";
    dom = Capture("timeout 120 " + chromium +
                  " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                  " --disable-background-networking --disable-component-update --disable-sync"
                  " --user-data-dir=" +
                  (dir / "profile").string() + " --virtual-time-budget=20000 --dump-dom '" + url +
                  "' 2>/dev/null");
    if (dom.find("data-state=\"done\"") != std::string::npos) break;
  }
  ASSERT_NE(dom.find("data-state=\"done\""), std::string::npos)
      << dom.substr(std::min(dom.size(), dom.find("<body")), 3000);
  ASSERT_NE(dom.find("data-panel=\"ready\""), std::string::npos);

  // The cache as the server counts it, before anything else runs.
  httplib::Client c = server->Client();
  auto cache = c.Get("/v1/omnisage/cache");
  ASSERT_TRUE(cache && cache->status == 200);
  const json snapshot = json::parse(cache->body);

  // The answer: the API's for the same request (greedy).
  std::smatch m;
  const std::regex answer_re(
      "<div class=\"msg assistant\" id=\"answer-1\" data-prompt-tokens=\"(\\d+)\" "
      "data-completion-tokens=\"(\\d+)\" data-done=\"1\">([^<]*)<div class=\"meta\">");
  ASSERT_TRUE(std::regex_search(dom, m, answer_re)) << dom.substr(0, 4000);
  const int prompt_tokens = std::stoi(m[1]), completion_tokens = std::stoi(m[2]);
  const std::string shown = Unescape(m[3]);
  auto res = c.Post("/v1/chat/completions",
                    R"({"messages": [{"role": "user", "content": "Hello there"}],
                        "max_tokens": 10, "temperature": 0})",
                    "application/json");
  ASSERT_TRUE(res && res->status == 200);
  const json api = json::parse(res->body);
  EXPECT_EQ(shown, api["choices"][0]["message"]["content"]);
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

}  // namespace
}  // namespace omnisage

// A bounded load test of `omnisage serve` on loopback: many clients at once, each sending a
// seeded mix of streamed and whole answers, streams dropped after their first bytes, bodies over
// the limit, malformed JSON and wrong keys. The server must answer each with the right status
// (or 429 when full), give every answer that completes the same text as an idle server gives,
// stay up, keep its expert memory within the budget, decode answers together (batches of more
// than one), and end with nothing running or queued.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "serve_runner.h"

namespace omnisage {
namespace {

using json = nlohmann::json;

// The value of a metric line "name value" (the first one), or -1.
double MetricValue(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST(ServeLoadTest, ManyClientsDisconnectsAndBadBodies) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("omnisage_serve_load_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const std::string model = (dir / "tiny").string();
  ASSERT_EQ(RunCli("synth --preset tiny --out " + model).exit_code, 0);
  ServeProcess server;
  ASSERT_TRUE(server.Start("--model " + model +
                           " --budget 50% --api-key k --max-batch 4 --max-queue 8 --context 256 "
                           "--max-body 100000 --max-tokens 24"))
      << server.log();
  const httplib::Headers auth = {{"Authorization", "Bearer k"}};
  const std::vector<std::string> prompts = {"Hello", "What is the weather like?", "Count to five",
                                            "Tell me a joke"};
  auto body = [&](int p, bool stream) {
    return json({{"messages", {{{"role", "user"}, {"content", prompts[p]}}}},
                 {"max_tokens", 24},
                 {"stream", stream}})
        .dump();
  };
  // The answers of an idle server.
  std::vector<std::string> expected;
  for (size_t p = 0; p < prompts.size(); ++p) {
    httplib::Client c = server.Client();
    auto res = c.Post("/v1/chat/completions", auth, body(p, false), "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    expected.push_back(json::parse(res->body)["choices"][0]["message"]["content"]);
  }

  constexpr int kClients = 16, kRequestsEach = 6;
  std::atomic<int> wrong{0}, answered{0}, busy{0}, dropped{0};
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      std::mt19937 rng(1000 + i);
      for (int r = 0; r < kRequestsEach; ++r) {
        httplib::Client c = server.Client();  // a connection per request, as separate users
        const int kind = static_cast<int>(rng() % 6), p = static_cast<int>(rng() % prompts.size());
        auto fail = [&](const std::string& why) {
          ++wrong;
          failures[i] += why + "\n";
        };
        if (kind == 0 || kind == 1) {  // a whole or a streamed answer
          StreamResult s = PostStream(c, "/v1/chat/completions", body(p, kind == 1), auth);
          if (s.status == 429) {
            ++busy;
            continue;
          }
          if (s.status != 200) {
            fail("status " + std::to_string(s.status) + " (" + httplib::to_string(s.error) +
                 "): " + s.body);
            continue;
          }
          const std::string text =
              kind == 1
                  ? StreamedText(s.body, nullptr)
                  : json::parse(s.body)["choices"][0]["message"]["content"].get<std::string>();
          if (text != expected[p]) fail("answer '" + text + "' != '" + expected[p] + "'");
          ++answered;
        } else if (kind == 2) {  // a stream dropped after its first bytes
          StreamResult s = PostStream(c, "/v1/chat/completions", body(p, true), auth, 1);
          // The client hangs up after the first byte: its status may be unread (-1 or 0).
          if (s.status != 200 && s.status != 429 && s.status > 0) {
            fail("dropped stream: status " + std::to_string(s.status) + " (" +
                 httplib::to_string(s.error) + ")");
          }
          ++dropped;
        } else if (kind == 3) {  // over --max-body
          auto res =
              c.Post("/v1/completions", auth, json({{"prompt", std::string(150000, 'x')}}).dump(),
                     "application/json");
          if (!res || res->status != 413) {
            fail("oversized body: not 413 (" + httplib::to_string(res.error()) + ")");
          }
        } else if (kind == 4) {  // malformed JSON
          auto res = c.Post("/v1/chat/completions", auth,
                            "{\"messages\": [{\"role\": ", "application/json");
          if (!res || res->status != 400 || res->body.find("not valid JSON") == std::string::npos) {
            fail("malformed body: not 400");
          }
        } else {  // a wrong key
          auto res = c.Post("/v1/chat/completions", {{"Authorization", "Bearer x"}}, body(p, false),
                            "application/json");
          if (!res || res->status != 401) fail("wrong key: not 401");
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  std::string all_failures;
  for (const std::string& f : failures) all_failures += f;
  EXPECT_EQ(wrong.load(), 0) << all_failures << "server log:\n" << server.log();
  EXPECT_GT(answered.load(), 0);
  EXPECT_GT(dropped.load(), 0);

  ASSERT_TRUE(server.Alive()) << server.log();
  httplib::Client c = server.Client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // Everything drains: nothing running or waiting once the clients are gone (a dropped stream's
  // answer stops at the server's next write; on a loaded machine that can take a while).
  std::string metrics;
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < drain_deadline) {
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    metrics = m->body;
    if (MetricValue(metrics, "omnisage_requests_in_flight") == 0 &&
        MetricValue(metrics, "omnisage_requests_queued") == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(MetricValue(metrics, "omnisage_requests_in_flight"), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "omnisage_requests_queued"), 0) << metrics;
  // Answers ran together: decode steps carried more than one sequence on average.
  EXPECT_GT(MetricValue(metrics, "omnisage_decode_batch_tokens_total"),
            MetricValue(metrics, "omnisage_decode_steps_total"))
      << metrics;
  // The expert cache never held more than its budget.
  const double budget = MetricValue(metrics, "omnisage_expert_budget_bytes");
  const double peak =
      MetricValue(metrics, "omnisage_memory_ledger_peak_bytes{kind=\"expert_cache\"}");
  EXPECT_GT(peak, 0) << metrics;
  EXPECT_LE(peak, budget) << metrics;
  EXPECT_LT(budget, MetricValue(metrics, "omnisage_expert_total_bytes"));
  // The KV caches never held more than --max-batch caches of --context tokens, and more than one
  // was in use at some point (answers ran together).
  const double kv_limit = MetricValue(metrics, "omnisage_kv_cache_limit_bytes");
  const double kv_peak =
      MetricValue(metrics, "omnisage_memory_ledger_peak_bytes{kind=\"kv_cache\"}");
  EXPECT_GT(kv_limit, 0) << metrics;
  EXPECT_LE(kv_peak, kv_limit) << metrics;
  EXPECT_GE(kv_peak, kv_limit / 2) << metrics;
  // Every cache was given back once nothing runs.
  EXPECT_EQ(MetricValue(metrics, "omnisage_memory_ledger_bytes{kind=\"kv_cache\"}"), 0) << metrics;
  EXPECT_EQ(WEXITSTATUS(server.Stop()), 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

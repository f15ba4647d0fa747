// Decode steps of several sessions as one batch (Session::Start + Session::StepBatch) give every
// session exactly the tokens Session::Generate gives it alone — greedy and seeded sampling,
// prompts of different lengths, sessions joining a batch already under way and leaving it early —
// with every expert resident and under a budget where the batch's experts share one cache.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "generated_model.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::vector<int32_t> prompt;
  GenerateOptions options;
  int joins_at = 0;  // the batch step at which the session starts
};

std::vector<Case> Cases() {
  std::vector<Case> cases(4);
  cases[0].prompt = {1, 2, 3, 4, 5};
  cases[0].options.max_tokens = 12;
  cases[1].prompt = {9, 8, 7};
  cases[1].options.max_tokens = 7;  // leaves early
  cases[1].options.sampling = {.temperature = 0.9f, .top_k = 20, .seed = 11};
  cases[1].joins_at = 2;
  cases[2].prompt = {42, 17, 5, 5, 5, 5, 99, 3, 2, 1, 64};
  cases[2].options.max_tokens = 10;
  cases[2].options.sampling = {
      .temperature = 1.2f, .top_p = 0.9f, .repetition_penalty = 1.3f, .seed = 3};
  cases[3].prompt = {300};
  cases[3].options.max_tokens = 9;
  cases[3].joins_at = 4;
  return cases;
}

void ExpectBatchEqualsAlone(const std::string& model, const std::string& budget) {
  auto engine = Engine::Load({.model = model, .threads = 2, .context = 64, .budget = budget});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Engine& e = **engine;
  const std::vector<Case> cases = Cases();
  std::vector<std::vector<int32_t>> alone(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    Session s(&e);
    ASSERT_TRUE(s.Generate(cases[i].prompt, cases[i].options, [&](int32_t id) {
                   alone[i].push_back(id);
                   return true;
                 }).ok());
    ASSERT_EQ(alone[i].size(), static_cast<size_t>(cases[i].options.max_tokens));
  }
  std::vector<std::unique_ptr<Session>> sessions;
  for (size_t i = 0; i < cases.size(); ++i) sessions.push_back(std::make_unique<Session>(&e));
  std::vector<std::vector<int32_t>> batched(cases.size());
  int max_batch = 0;
  for (int step = 0;; ++step) {
    for (size_t i = 0; i < cases.size(); ++i) {
      if (cases[i].joins_at != step) continue;
      GenerateStats stats;
      auto first = sessions[i]->Start({cases[i].prompt, {}}, cases[i].options, &stats);
      ASSERT_TRUE(first.ok()) << first.status().ToString();
      batched[i].push_back(*first);
    }
    std::vector<Session*> running;
    std::vector<size_t> which;
    for (size_t i = 0; i < cases.size(); ++i) {
      const size_t want = static_cast<size_t>(cases[i].options.max_tokens);
      if (!batched[i].empty() && batched[i].size() < want) {
        running.push_back(sessions[i].get());
        which.push_back(i);
      }
    }
    if (running.empty() && step > 4) break;
    max_batch = std::max(max_batch, static_cast<int>(running.size()));
    std::vector<int32_t> next;
    ASSERT_TRUE(Session::StepBatch(running, &next).ok());
    ASSERT_EQ(next.size(), running.size());
    for (size_t j = 0; j < which.size(); ++j) batched[which[j]].push_back(next[j]);
  }
  EXPECT_GE(max_batch, 3);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(batched[i], alone[i]) << "case " << i;
}

TEST(BatchTest, EverySessionGetsTheTokensItGetsAlone) {
  const std::string dir = ::omnisage::test_paths::FreshTestDir("omnisage_batch_");
  ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(dir).ok());
  ExpectBatchEqualsAlone(dir, "");     // every expert resident
  ExpectBatchEqualsAlone(dir, "25%");  // the batch's experts through one small cache
  fs::remove_all(dir);
}

// Bit for bit: a batch's logits row is the logits Forward gives the sequence alone.
TEST(BatchTest, BatchLogitsAreBitIdenticalToAlone) {
  const std::string dir = ::omnisage::test_paths::FreshTestDir("omnisage_batch3_");
  ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(dir).ok());
  auto engine = Engine::Load({.model = dir, .threads = 2, .context = 32});
  ASSERT_TRUE(engine.ok());
  TextModel& model = (*engine)->model();
  ThreadPool& pool = (*engine)->pool();
  const int64_t vocab = model.vocab_size();
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7, 7}, {100, 5, 9, 11, 3}, {4}};
  const std::vector<int32_t> next = {11, 22, 33, 44};
  std::vector<KvCache> alone, batch;
  std::vector<float> logits(vocab), expected(prompts.size() * vocab);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (auto* caches : {&alone, &batch}) {
      caches->push_back(model.NewCache(32));
      ASSERT_TRUE(model
                      .Forward(prompts[i].data(), prompts[i].size(), &caches->back(), false,
                               logits.data(), &pool)
                      .ok());
    }
    ASSERT_TRUE(
        model.Forward(&next[i], 1, &alone[i], false, expected.data() + i * vocab, &pool).ok());
  }
  std::vector<KvCache*> caches;
  for (KvCache& c : batch) caches.push_back(&c);
  std::vector<float> got(prompts.size() * vocab);
  ASSERT_TRUE(model.ForwardBatch(next.data(), next.size(), caches.data(), got.data(), &pool).ok());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batch[i].length(), alone[i].length());
    EXPECT_EQ(
        std::memcmp(got.data() + i * vocab, expected.data() + i * vocab, vocab * sizeof(float)), 0)
        << "sequence " << i;
  }
  fs::remove_all(dir);
}

TEST(BatchTest, ASessionTwiceOrNotStartedIsRefused) {
  const std::string dir = ::omnisage::test_paths::FreshTestDir("omnisage_batch2_");
  ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(dir).ok());
  auto engine = Engine::Load({.model = dir, .threads = 1, .context = 16});
  ASSERT_TRUE(engine.ok());
  Session a(engine->get()), b(engine->get());
  std::vector<int32_t> next;
  EXPECT_FALSE(Session::StepBatch({&a}, &next).ok());  // not started
  GenerateStats stats;
  ASSERT_TRUE(a.Start({{1, 2, 3}, {}}, GenerateOptions{}, &stats).ok());
  EXPECT_FALSE(Session::StepBatch({&a, &a}, &next).ok());
  // A full context is an error, and nothing is fed.
  ASSERT_TRUE(b.Start({std::vector<int32_t>(16, 7), {}}, GenerateOptions{}, &stats).ok());
  const Status full = Session::StepBatch({&a, &b}, &next);
  EXPECT_EQ(full.code(), StatusCode::kOutOfRange) << full.ToString();
  EXPECT_EQ(a.history().size(), 3u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

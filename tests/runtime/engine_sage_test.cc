// The engine's SAGE wiring: REST shrinks the expert cache to its floor while idle, the next
// answer wakes it back to the full budget, and the answers stay within budget throughout.
#include <gtest/gtest.h>

#include <filesystem>

#include "generated_model.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

TEST(EngineSageTest, RestShrinksTheCacheAndTheNextAnswerWakesIt) {
  const std::string dir = ::omnisage::test_paths::FreshTestDir("omnisage_engine_sage_");
  ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(dir).ok());
  auto engine = Engine::Load({.model = dir,
                              .threads = 2,
                              .context = 128,
                              .budget = "100%",
                              .mode = "sage",
                              .sage = {.state = "", .trust_file = dir + "/trust.json"}});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Engine& e = **engine;
  ExpertCache& cache = e.expert_cache()->cache();
  const uint64_t budget = e.expert_budget_bytes();
  EXPECT_EQ(cache.capacity(), budget);
  Session session(&e);
  GenerateOptions g;
  g.max_tokens = 8;
  ASSERT_TRUE(session.Generate({1, 2, 3, 4, 5}, g, [](int32_t) { return true; }).ok());
  EXPECT_GT(cache.usage(), budget / 4);  // a prompt and 8 tokens touch most experts of tiny
  e.Idle();
  EXPECT_EQ(e.sage()->state(), MetabolicState::kRest);
  const uint64_t floor =
      std::max<uint64_t>(budget / 4, CachedExperts::MinimumBudget(e.config().text));
  EXPECT_EQ(cache.capacity(), floor);
  EXPECT_LE(cache.usage(), floor);
  ASSERT_TRUE(session.Generate({6, 7}, g, [](int32_t) { return true; }).ok());
  EXPECT_NE(e.sage()->state(), MetabolicState::kRest);
  EXPECT_EQ(cache.capacity(), budget);
  EXPECT_LE(cache.peak_usage(), budget);
  EXPECT_TRUE(fs::exists(dir + "/trust.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace omnisage

// CachedExperts: exact mode gives bit-identical logits at any budget, policy and prefetch setting,
// from the original shards and from an expert store; statistics add up; too small a budget and a
// failing read are clear errors.
#include "experts/cached_experts.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "experts/extract.h"
#include "experts/store.h"
#include "generated_model.h"
#include "io/fault_injection.h"
#include "model/decoder.h"
#include "model/synth.h"
#include "model/text_model.h"
#include "source_paths.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class CachedExpertsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_cached_experts_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_ + "/model").ok());
    ExtractOptions e;
    e.model = *dir_ + "/model";
    e.out = *dir_ + "/store";
    e.progress = false;
    ASSERT_TRUE(ExtractStore(e).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string Model() { return *dir_ + "/model"; }
  static std::string Store() { return *dir_ + "/store"; }

  // A 24-token prompt (logits of every position), then 12 greedy decode steps; every logit.
  static std::vector<float> Run(const WeightSource& source, ExpertProvider* experts,
                                Status* error = nullptr) {
    auto config = LoadModelConfig(source.config_path());
    EXPECT_TRUE(config.ok());
    auto model = TextModel::Load(source, *config, experts);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    ThreadPool pool(2);
    KvCache cache = (*model)->NewCache(64);
    const int64_t vocab = (*model)->vocab_size();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 24; ++i) prompt.push_back((i * 131 + 7) % static_cast<int>(vocab));
    std::vector<float> all(prompt.size() * vocab);
    Status s = (*model)->Forward(prompt.data(), static_cast<int64_t>(prompt.size()), &cache, true,
                                 all.data(), &pool);
    if (!s.ok()) {
      if (error != nullptr) *error = s;
      return {};
    }
    std::vector<float> logits(all.end() - vocab, all.end());
    for (int step = 0; step < 12; ++step) {
      const int32_t next =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      s = (*model)->Forward(&next, 1, &cache, false, logits.data(), &pool);
      if (!s.ok()) {
        if (error != nullptr) *error = s;
        return {};
      }
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  }

  static std::unique_ptr<CachedExperts> NewCached(const WeightSource& source, uint64_t budget,
                                                  const std::string& policy, bool prefetch) {
    auto config = LoadModelConfig(source.config_path());
    auto p = CachedExperts::Create(
        source, "thinker.model.", Component::kThinker, config->text,
        {.budget_bytes = budget, .policy = policy, .io_threads = 2, .prefetch = prefetch});
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static std::string* dir_;
};
std::string* CachedExpertsTest::dir_ = nullptr;

// The talker's stack run on its own (5-token prefill, then 5 single steps) through `experts`
// (null: every expert resident); every output row.
std::vector<float> RunTalker(const WeightSource& source, ExpertProvider* experts) {
  auto config = LoadModelConfig(source.config_path());
  EXPECT_TRUE(config.ok());
  const DecoderConfig& c = config->talker.text;
  std::unique_ptr<ResidentExperts> resident;
  if (experts == nullptr) {
    auto r = ResidentExperts::Load(source, "talker.model.", c);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    resident = std::move(*r);
    experts = resident.get();
  }
  auto decoder = MoeDecoder::Load(source, c, "talker.model.", experts);
  EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
  ThreadPool pool(2);
  KvCache cache = (*decoder)->NewCache(16);
  std::vector<float> x(5 * c.hidden_size), out;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37 % 19)) / 19.0f - 0.5f;
  EXPECT_TRUE((*decoder)->Forward(x.data(), 5, &cache, &pool).ok());
  out = x;
  for (int step = 0; step < 5; ++step) {
    std::vector<float> row(x.end() - c.hidden_size, x.end());
    EXPECT_TRUE((*decoder)->Forward(row.data(), 1, &cache, &pool).ok());
    out.insert(out.end(), row.begin(), row.end());
    x = row;
  }
  return out;
}

// The talker's experts through the thinker's cache (CreateSharing): one budget for both stacks,
// the same outputs as with every expert resident, statistics per stack.
TEST_F(CachedExpertsTest, TalkerSharesTheThinkersCacheAndBudget) {
  auto source = OpenCheckpointSource(Model());
  ASSERT_TRUE(source.ok());
  auto config = LoadModelConfig((*source)->config_path());
  ASSERT_TRUE(config.ok());
  const std::vector<float> thinker_want = Run(**source, nullptr);
  const std::vector<float> talker_want = RunTalker(**source, nullptr);
  CacheOptions o;
  // Room for one thinker token's experts and a few more: both stacks evict each other.
  o.budget_bytes = CachedExperts::MinimumBudget(config->text) +
                   2 * CachedExperts::ExpertBytes(config->talker.text);
  auto thinker =
      CachedExperts::Create(**source, "thinker.model.", Component::kThinker, config->text, o);
  ASSERT_TRUE(thinker.ok()) << thinker.status().ToString();
  auto talker = CachedExperts::CreateSharing(**source, "talker.model.", Component::kTalker,
                                             config->talker.text, thinker->get());
  ASSERT_TRUE(talker.ok()) << talker.status().ToString();
  EXPECT_EQ(&(*thinker)->cache(), &(*talker)->cache());
  EXPECT_EQ(Run(**source, thinker->get()), thinker_want);
  const ExpertCacheStats thinker_alone = (*thinker)->total_stats();
  EXPECT_EQ(RunTalker(**source, talker->get()), talker_want);
  EXPECT_EQ(Run(**source, thinker->get()), thinker_want);
  const ExpertCacheStats a = (*thinker)->total_stats(), b = (*talker)->total_stats();
  EXPECT_GT(b.accesses, 0u);
  EXPECT_EQ(a.accesses, 2 * thinker_alone.accesses);  // the talker's uses are not the thinker's
  EXPECT_GT(b.evictions, 0u);
  EXPECT_EQ(a.evictions + b.evictions, (*thinker)->cache().evictions());
  EXPECT_LE((*thinker)->cache().peak_usage(), o.budget_bytes);
  // A budget too small for the talker's k experts at once is refused, naming the talker.
  auto small_thinker =
      CachedExperts::Create(**source, "thinker.model.", Component::kThinker, config->text, o);
  ASSERT_TRUE(small_thinker.ok());
  DecoderConfig greedy_talker = config->talker.text;
  greedy_talker.num_experts_per_tok = config->talker.text.num_experts * 1000;
  auto refused = CachedExperts::CreateSharing(**source, "talker.model.", Component::kTalker,
                                              greedy_talker, small_thinker->get());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("talker"), std::string::npos);
}

TEST_F(CachedExpertsTest, ExactAtEveryBudgetPolicyAndSource) {
  auto checkpoint = OpenWeightSource(Model());
  ASSERT_TRUE(checkpoint.ok());
  const std::vector<float> reference = Run(**checkpoint, nullptr);  // every expert resident
  ASSERT_FALSE(reference.empty());
  auto config = LoadModelConfig((*checkpoint)->config_path());
  const uint64_t total = CachedExperts::TotalExpertBytes(config->text);
  const uint64_t minimum = CachedExperts::MinimumBudget(config->text);
  for (const std::string& path : {Model(), Store()}) {
    auto source = OpenWeightSource(path);
    ASSERT_TRUE(source.ok());
    for (uint64_t budget : {minimum, std::max(minimum, total / 4), total}) {
      for (const std::string& policy : EvictionPolicyNames()) {
        for (bool prefetch : {true, false}) {
          SCOPED_TRACE(::testing::Message() << path << " budget " << budget << " " << policy
                                            << (prefetch ? " prefetch" : ""));
          auto cached = NewCached(**source, budget, policy, prefetch);
          const std::vector<float> got = Run(**source, cached.get());
          ASSERT_EQ(got.size(), reference.size());
          EXPECT_EQ(std::memcmp(got.data(), reference.data(), got.size() * sizeof(float)), 0);
          EXPECT_LE(cached->cache().peak_usage(), budget);
        }
      }
    }
  }
}

TEST_F(CachedExpertsTest, StatisticsAddUp) {
  auto source = OpenWeightSource(Store());
  ASSERT_TRUE(source.ok());
  auto config = LoadModelConfig((*source)->config_path());
  const uint64_t total = CachedExperts::TotalExpertBytes(config->text);
  {
    // Everything fits: only compulsory misses, no evictions, and nothing read twice.
    auto cached = NewCached(**source, total, "lru", false);
    Run(**source, cached.get());
    cached->Drain();
    const ExpertCacheStats s = cached->total_stats();
    EXPECT_EQ(s.accesses, s.hits + s.misses);
    EXPECT_EQ(s.evictions, 0u);
    EXPECT_EQ(s.loads, s.misses);
    EXPECT_LE(s.misses, static_cast<uint64_t>(config->text.num_layers * config->text.num_experts));
    EXPECT_EQ(s.bytes_read, s.loads * cached->expert_bytes());
    EXPECT_GT(s.hits, 0u);
  }
  {
    // The minimum budget: evictions happen; prefetch hits are hits; predictions are counted.
    auto cached = NewCached(**source, CachedExperts::MinimumBudget(config->text), "lru", true);
    Run(**source, cached.get());
    cached->Drain();
    const ExpertCacheStats s = cached->total_stats();
    EXPECT_EQ(s.accesses, s.hits + s.misses);
    EXPECT_GT(s.evictions, 0u);
    EXPECT_LE(s.prefetch_hits, s.hits);
    EXPECT_EQ(s.loads, s.misses + s.prefetches);
    EXPECT_GT(s.predicted_uses, 0u);
    EXPECT_LE(s.predicted_correct, s.predicted_uses);
    EXPECT_LE(s.prefetch_wasted, s.prefetches);
    EXPECT_EQ(s.bytes_read, s.loads * cached->expert_bytes());
  }
}

TEST_F(CachedExpertsTest, BudgetBelowTheMinimumNamesIt) {
  auto source = OpenWeightSource(Store());
  ASSERT_TRUE(source.ok());
  auto config = LoadModelConfig((*source)->config_path());
  const uint64_t minimum = CachedExperts::MinimumBudget(config->text);
  auto p = CachedExperts::Create(**source, "thinker.model.", Component::kThinker, config->text,
                                 {.budget_bytes = minimum - 1});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(p.status().message().find(std::to_string(minimum) + " bytes"), std::string::npos)
      << p.status().message();
}

TEST_F(CachedExpertsTest, UnknownPolicyListsTheValidOnes) {
  auto source = OpenWeightSource(Store());
  auto config = LoadModelConfig((*source)->config_path());
  auto p = CachedExperts::Create(**source, "thinker.model.", Component::kThinker, config->text,
                                 {.budget_bytes = 1 << 30, .policy = "fifo"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("lru, lfu, cycle, trust"), std::string::npos);
}

TEST_F(CachedExpertsTest, ReadErrorFailsTheForwardPassAndNamesTheFile) {
  FaultInjectingFileSystem faulty;
  faulty.FailReads("layer_01/expert_", 0);
  auto store = ExpertStore::Open(Store(), &faulty);
  ASSERT_TRUE(store.ok());
  auto config = LoadModelConfig((*store)->config_path());
  auto cached = NewCached(**store, CachedExperts::MinimumBudget(config->text), "lru", true);
  Status error;
  EXPECT_TRUE(Run(**store, cached.get(), &error).empty());
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.message().find("layer_01/expert_"), std::string::npos) << error.message();
  cached->Drain();
  EXPECT_LE(cached->cache().usage(), cached->cache().capacity());
}

// The error rule: a failed prefetch does not change the answer, so it is counted and listed in
// Warnings(); the expert is read again when it is used.
TEST_F(CachedExpertsTest, FailedPrefetchIsAWarningAndTheUseReadsAgain) {
  FaultInjectingFileSystem faulty;
  faulty.FailReads("layer_01/expert_", 0);
  auto store = ExpertStore::Open(Store(), &faulty);
  ASSERT_TRUE(store.ok());
  auto config = LoadModelConfig((*store)->config_path());
  auto cached = NewCached(**store, CachedExperts::TotalExpertBytes(config->text), "lru", true);
  EXPECT_TRUE(cached->Warnings().empty());
  const int32_t experts[] = {5};
  cached->Prefetch(1, experts, 1);
  cached->Drain();
  EXPECT_EQ(cached->total_stats().prefetch_failed, 1u);
  EXPECT_FALSE(cached->IsResident(1, 5));
  const std::vector<std::string> warnings = cached->Warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("prefetch"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("layer_01/expert_"), std::string::npos) << warnings[0];
  faulty.FailReads("", 0);  // the fault passes: the use reads the expert again
  auto weights = cached->Acquire(1, 5);
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  cached->Release(1, 5);
  EXPECT_TRUE(cached->IsResident(1, 5));
}

TEST_F(CachedExpertsTest, HotSetListsWhatItCouldNotPin) {
  FaultInjectingFileSystem faulty;
  faulty.FailReads("layer_01/expert_", 0);
  auto store = ExpertStore::Open(Store(), &faulty);
  ASSERT_TRUE(store.ok());
  auto config = LoadModelConfig((*store)->config_path());
  auto cached = NewCached(**store, CachedExperts::TotalExpertBytes(config->text), "lru", true);
  const std::vector<uint64_t> keys = {
      ExpertKey{Component::kThinker, 0, 3}.Pack(),  // pinned
      ExpertKey{Component::kThinker, 1, 3}.Pack(),  // its read fails
      ExpertKey{Component::kTalker, 0, 3}.Pack(),   // another stack
  };
  EXPECT_EQ(cached->PinHotSet(keys, ~uint64_t{0}), cached->expert_bytes());
  const std::vector<std::string> warnings = cached->Warnings();
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("layer 1 expert 3 not pinned"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("1 of 3 experts skipped"), std::string::npos) << warnings[1];
}

TEST(ExpertCacheStatsTest, SinceUndoesAdd) {
  ExpertCacheStats a;
  a.accesses = 10;
  a.hits = 7;
  a.misses = 3;
  a.bytes_read = 3000;
  a.stall_seconds = 0.5;
  a.evictions = 2;
  ExpertCacheStats b = a;
  b.Add(a);
  EXPECT_EQ(b.accesses, 20u);
  EXPECT_EQ(b.evictions, 4u);
  const ExpertCacheStats d = b.Since(a);
  EXPECT_EQ(d.accesses, 10u);
  EXPECT_EQ(d.hits, 7u);
  EXPECT_EQ(d.misses, 3u);
  EXPECT_EQ(d.bytes_read, 3000u);
  EXPECT_DOUBLE_EQ(d.stall_seconds, 0.5);
  EXPECT_EQ(d.evictions, 2u);
}

}  // namespace
}  // namespace omnisage

// The --memory planner: its items are the bytes the engine's owners hold (the ledger's figures
// after loading each component, the KV cache of a session, the decoder's activations for a prompt
// of the whole context), the limit splits into items and an expert budget with the minimum named
// when it cannot, a run under the plan computes the same logits as one without it, and a
// component the plan does not hold is refused before it loads.
#include "runtime/memory_plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/extract.h"
#include "generated_model.h"
#include "model/activations.h"
#include "model/presets.h"
#include "model/synth.h"
#include "model/tensor_table.h"
#include "runtime/engine.h"
#include "runtime/speaker.h"
#include "source_paths.h"
#include "util/memory_ledger.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const MemoryPlanItem* Item(const MemoryLimitPlan& plan, std::string_view name) {
  for (const MemoryPlanItem& i : plan.items) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

uint64_t ComponentDense(const ModelConfig& c, Component component) {
  uint64_t b = 0;
  for (const TensorSpec& t : ModelTensors(c)) {
    const TensorKind k = ClassifyTensor(t.name);
    if (k.component == component && k.role != TensorRole::kExpert) b += t.nbytes();
  }
  return b;
}

class MemoryPlanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_memory_plan_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* MemoryPlanTest::dir_ = nullptr;

TEST(MemoryPlan, LimitSplitsIntoItemsAndExperts) {
  const ModelConfig c = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const MemoryPlanInput in{
      .needs = {.audio = true, .vision = true, .speech = true}, .context = 256, .threads = 2};
  const MemoryLimitPlan items = PlanItems(c, in);
  uint64_t sum = 0;
  for (const MemoryPlanItem& i : items.items) sum += i.bytes;
  EXPECT_EQ(items.fixed_bytes, sum);
  EXPECT_EQ(items.thinker_expert_bytes, CachedExperts::TotalExpertBytes(c.text));
  EXPECT_EQ(items.talker_expert_bytes, CachedExperts::TotalExpertBytes(c.talker.text));
  EXPECT_EQ(items.expert_minimum, std::max(CachedExperts::MinimumBudget(c.text),
                                           CachedExperts::MinimumBudget(c.talker.text)));
  uint64_t encoders = 0;
  for (const MemoryPlanItem& i : items.items) encoders += i.encoder ? i.bytes : 0;
  EXPECT_EQ(items.encoder_bytes, encoders);
  EXPECT_GT(encoders, 0u);
  // With every item held for the whole run, the experts get exactly their minimum at the
  // resident minimum.
  EXPECT_EQ(items.resident_minimum_limit(), items.fixed_bytes + items.expert_minimum);
  auto resident = PlanMemory(c, in, items.resident_minimum_limit());
  ASSERT_TRUE(resident.ok()) << resident.status().ToString();
  EXPECT_FALSE(resident->encoders_released);
  EXPECT_EQ(resident->expert_budget, items.expert_minimum);
  // One byte less: the encoders are released after each prompt's encoding; the expert budget
  // covers them while they encode.
  auto released = PlanMemory(c, in, items.resident_minimum_limit() - 1);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_TRUE(released->encoders_released);
  EXPECT_EQ(released->fixed_bytes, items.fixed_bytes - encoders);
  EXPECT_EQ(released->expert_budget,
            std::min(released->limit - released->fixed_bytes, items.total_expert_bytes()));
  // While they encode: everything else, the encoders and the shrunken cache fit the limit.
  EXPECT_LE(released->fixed_bytes + encoders + released->encoding_expert_budget, released->limit);
  EXPECT_EQ(resident->encoding_expert_budget, resident->expert_budget);
  // The smallest limit of all: everything else + the larger of the experts' minimum and the
  // encoders; one byte less is refused, naming it.
  EXPECT_EQ(items.minimum_limit(),
            items.fixed_bytes - encoders + std::max(items.expert_minimum, encoders));
  auto at_min = PlanMemory(c, in, items.minimum_limit());
  ASSERT_TRUE(at_min.ok()) << at_min.status().ToString();
  EXPECT_EQ(at_min->expert_budget,
            std::min(std::max(items.expert_minimum, encoders), items.total_expert_bytes()));
  EXPECT_GE(at_min->expert_budget, items.expert_minimum);
  EXPECT_EQ(at_min->fixed_bytes + encoders + at_min->encoding_expert_budget, at_min->limit);
  EXPECT_EQ(at_min->minimum_limit(), items.minimum_limit());
  auto below = PlanMemory(c, in, items.minimum_limit() - 1);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(below.status().message().find(std::to_string(items.minimum_limit()) + " bytes"),
            std::string::npos)
      << below.status().message();
  // Above the resident minimum, the experts get the rest; beyond every expert, all of them.
  const uint64_t mid = items.resident_minimum_limit() + items.total_expert_bytes() / 3;
  EXPECT_EQ(PlanMemory(c, in, mid)->expert_budget, mid - items.fixed_bytes);
  EXPECT_EQ(PlanMemory(c, in, uint64_t{1} << 40)->expert_budget, items.total_expert_bytes());
  // The ledger's share: the limit less the I/O buffers, the runtime and the prompt's media rows.
  EXPECT_EQ(at_min->ledger_limit(), at_min->limit - at_min->off_ledger_bytes);
  EXPECT_EQ(at_min->off_ledger_bytes, Item(*at_min, "I/O buffers")->bytes +
                                          Item(*at_min, "runtime")->bytes +
                                          Item(*at_min, "media embeddings")->bytes);
}

TEST(MemoryPlan, OnlyWhatTheRequestNeeds) {
  const ModelConfig c = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const MemoryLimitPlan text = PlanItems(c, {.context = 256, .threads = 2});
  EXPECT_EQ(Item(text, kAudioEncoderWeights), nullptr);
  EXPECT_EQ(Item(text, kVisionEncoderWeights), nullptr);
  EXPECT_EQ(Item(text, kTalkerWeights), nullptr);
  EXPECT_EQ(text.talker_expert_bytes, 0u);
  const MemoryLimitPlan audio = PlanItems(c, {.needs = {.audio = true}, .context = 256});
  ASSERT_NE(Item(audio, kAudioEncoderWeights), nullptr);
  EXPECT_EQ(Item(audio, kAudioEncoderWeights)->bytes, ComponentDense(c, Component::kAudioTower));
  EXPECT_GT(audio.fixed_bytes, text.fixed_bytes);
  // More context: more KV cache and activations; more sessions: more KV caches.
  const MemoryLimitPlan longer = PlanItems(c, {.context = 512, .threads = 2});
  EXPECT_EQ(Item(longer, "thinker KV cache")->bytes, 2 * Item(text, "thinker KV cache")->bytes);
  const MemoryLimitPlan batch = PlanItems(c, {.context = 256, .sessions = 3, .threads = 2});
  EXPECT_EQ(Item(batch, "thinker KV cache")->bytes, 3 * Item(text, "thinker KV cache")->bytes);
  // --io cached and drop read into the destination: no aligned buffers.
  EXPECT_EQ(Item(PlanItems(c, {.io = ReadMode::kPread}), "I/O buffers"), nullptr);
  // qwen3_moe has no encoders or talker, whatever the request says.
  const ModelConfig moe = PresetConfig(Preset::kTiny, Arch::kQwen3Moe);
  const MemoryLimitPlan m =
      PlanItems(moe, {.needs = {.audio = true, .vision = true, .speech = true}});
  EXPECT_EQ(Item(m, kAudioEncoderWeights), nullptr);
  EXPECT_EQ(m.talker_expert_bytes, 0u);
  ASSERT_NE(Item(m, "model weights"), nullptr);
  EXPECT_EQ(Item(m, "model weights")->bytes, ComponentDense(moe, Component::kText));
}

// Qwen3-Omni-30B-A3B, every component, a 4096-token context: the items are the real model's
// figures (the thinker's dense weights as the tensor table lists them, its float32 KV cache of 48
// layers x 4 KV heads x 128), the experts' minimum is one token's 8 experts of 9 MiB, and the
// smallest limit is their sum.
TEST(MemoryPlan, FullSizeOmni) {
  const ModelConfig c = PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe);
  const MemoryPlanInput in{
      .needs = {.audio = true, .vision = true, .speech = true}, .context = 4096, .threads = 2};
  const MemoryLimitPlan items = PlanItems(c, in);
  EXPECT_EQ(Item(items, "thinker weights")->bytes, ComponentDense(c, Component::kThinker));
  EXPECT_EQ(Item(items, "thinker KV cache")->bytes, uint64_t{2} * 48 * 4096 * 4 * 128 * 4);
  EXPECT_EQ(items.thinker_expert_bytes, uint64_t{48} * 128 * 3 * 2048 * 768 * 2);
  EXPECT_EQ(items.expert_minimum, uint64_t{8} * 3 * 2048 * 768 * 2);
  auto plan = PlanMemory(c, in, items.resident_minimum_limit() + (uint64_t{1} << 30));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->expert_budget, items.expert_minimum + (uint64_t{1} << 30));
  // Text alone needs neither encoder nor the talker.
  const MemoryLimitPlan text = PlanItems(c, {.context = 4096, .threads = 2});
  EXPECT_LT(text.minimum_limit() + Item(items, kAudioEncoderWeights)->bytes +
                Item(items, kVisionEncoderWeights)->bytes + Item(items, kTalkerWeights)->bytes,
            items.minimum_limit());
}

// The same model with its layer projections and lm_head in int8 (extract --quant-dense): each
// such tensor is planned at its int8 bytes (a byte per weight and a float scale per row).
TEST(MemoryPlan, FullSizeOmniWithInt8DenseWeights) {
  ModelConfig c = PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe);
  const MemoryPlanInput in{.needs = {.speech = true}, .context = 4096, .threads = 2};
  const MemoryLimitPlan bf16 = PlanItems(c, in);
  c.text.dense_format = c.talker.text.dense_format = c.talker.code_predictor.dense_format =
      WeightFormat::kInt8;
  const MemoryLimitPlan int8 = PlanItems(c, in);
  std::map<Component, uint64_t> saved;
  for (const TensorSpec& t : ModelTensors(c)) {
    if (!QuantizedByQuantDense(t.name, t.dtype, t.shape)) continue;
    saved[ClassifyTensor(t.name).component] += t.nbytes() - (t.numel() + 4 * t.shape[0]);
  }
  EXPECT_EQ(Item(bf16, "thinker weights")->bytes - Item(int8, "thinker weights")->bytes,
            saved[Component::kThinker]);
  EXPECT_EQ(Item(bf16, kTalkerWeights)->bytes - Item(int8, kTalkerWeights)->bytes,
            saved[Component::kTalker]);
  EXPECT_EQ(Item(bf16, kCodePredictorWeights)->bytes - Item(int8, kCodePredictorWeights)->bytes,
            saved[Component::kCodePredictor]);
  EXPECT_EQ(Item(bf16, kCode2WavWeights)->bytes, Item(int8, kCode2WavWeights)->bytes);
  EXPECT_EQ(
      bf16.minimum_limit() - int8.minimum_limit(),
      saved[Component::kThinker] + saved[Component::kTalker] + saved[Component::kCodePredictor]);
  std::printf(
      "full-size Qwen3-Omni, --quant-dense: thinker weights %llu -> %llu bytes, talker "
      "%llu -> %llu, code predictor %llu -> %llu; smallest limit with speech %llu -> %llu\n",
      static_cast<unsigned long long>(Item(bf16, "thinker weights")->bytes),
      static_cast<unsigned long long>(Item(int8, "thinker weights")->bytes),
      static_cast<unsigned long long>(Item(bf16, kTalkerWeights)->bytes),
      static_cast<unsigned long long>(Item(int8, kTalkerWeights)->bytes),
      static_cast<unsigned long long>(Item(bf16, kCodePredictorWeights)->bytes),
      static_cast<unsigned long long>(Item(int8, kCodePredictorWeights)->bytes),
      static_cast<unsigned long long>(bf16.minimum_limit()),
      static_cast<unsigned long long>(int8.minimum_limit()));
}

TEST(MemoryLedgerLimit, CheckRoomNamesWhatDoesNotFit) {
  MemoryLedger& ledger = MemoryLedger::Global();
  ASSERT_EQ(ledger.limit(), 0u);
  EXPECT_TRUE(ledger.CheckRoom(uint64_t{1} << 50, "anything").ok());
  ledger.set_limit(ledger.total() + 1000);
  EXPECT_TRUE(ledger.CheckRoom(1000, "a buffer").ok());
  const Status s = ledger.CheckRoom(1001, "the vision encoder");
  ledger.set_limit(0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("the vision encoder needs"), std::string::npos) << s.message();
}

// The decoder's activations for a prompt of the whole context are exactly the plan's figure.
TEST(MemoryPlan, DecoderActivationsBytesForIsWhatReserveHolds) {
  const ModelConfig c = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  for (bool contributions : {false, true}) {
    DecoderActivations a;
    a.Reserve(c.text, 100, 300, 2, 3, contributions);
    EXPECT_EQ(a.bytes(), DecoderActivations::BytesFor(c.text, 100, 300, 2, 3, contributions));
    // Growing in steps keeps every capacity exact.
    a.Reserve(c.text, 150, 301, 2, 3, contributions);
    EXPECT_EQ(a.bytes(), DecoderActivations::BytesFor(c.text, 150, 301, 2, 3, contributions));
  }
}

TEST_F(MemoryPlanTest, ItemsAreWhatTheEngineHolds) {
  MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t dense0 = ledger.current(MemoryKind::kDense);
  const uint64_t kv0 = ledger.current(MemoryKind::kKvCache);
  auto engine = Engine::Load({.model = *dir_,
                              .threads = 2,
                              .context = 64,
                              .memory = "1GiB",
                              .speech = true,
                              .audio_input = true,
                              .vision_input = true});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Engine& e = **engine;
  const MemoryLimitPlan& plan = *e.memory_plan();
  ASSERT_NE(e.expert_cache(), nullptr);
  EXPECT_EQ(e.expert_budget_bytes(), plan.expert_budget);
  EXPECT_EQ(ledger.current(MemoryKind::kDense) - dense0, Item(plan, "thinker weights")->bytes);
  {
    Session s(&e);
    EXPECT_EQ(ledger.current(MemoryKind::kKvCache) - kv0, Item(plan, "thinker KV cache")->bytes);
    std::vector<int32_t> ids(64);
    std::iota(ids.begin(), ids.end(), 1);
    ASSERT_TRUE(s.EvalAll(ids).ok());
    // The plan adds each session's logits to the decoder's buffers.
    EXPECT_EQ(e.model().decoder().activations().bytes() + e.config().text.vocab_size * 4,
              Item(plan, "thinker activations")->bytes);
  }
  uint64_t before = ledger.current(MemoryKind::kDense);
  ASSERT_TRUE(e.audio_encoder().ok());
  EXPECT_EQ(ledger.current(MemoryKind::kDense) - before, Item(plan, kAudioEncoderWeights)->bytes);
  before = ledger.current(MemoryKind::kDense);
  ledger.ResetPeaks();
  ASSERT_TRUE(e.vision_encoder().ok());
  // The position table is held as float32; while it is widened its bf16 tensor is held too.
  const VisionEncoderConfig& v = e.config().vision;
  const uint64_t table_bf16 = v.num_position_embeddings * v.hidden_size * 2;
  EXPECT_EQ(ledger.current(MemoryKind::kDense) - before,
            Item(plan, kVisionEncoderWeights)->bytes - table_bf16);
  EXPECT_LE(ledger.peak(MemoryKind::kDense) - before, Item(plan, kVisionEncoderWeights)->bytes);
  before = ledger.current(MemoryKind::kDense);
  ledger.ResetPeaks();
  auto speaker = Speaker::Load(&e);
  ASSERT_TRUE(speaker.ok()) << speaker.status().ToString();
  const uint64_t speech_weights = Item(plan, kTalkerWeights)->bytes +
                                  Item(plan, kCodePredictorWeights)->bytes +
                                  Item(plan, kCode2WavWeights)->bytes;
  EXPECT_LE(ledger.peak(MemoryKind::kDense) - before, speech_weights);
  // Held: the tensors, less the few code2wav keeps widened to float32 off the ledger (snake and
  // layer scales, a few KiB).
  const uint64_t tensors = ComponentDense(e.config(), Component::kTalker) +
                           ComponentDense(e.config(), Component::kCodePredictor) +
                           ComponentDense(e.config(), Component::kCode2Wav);
  EXPECT_LE(ledger.current(MemoryKind::kDense) - before, tensors);
  EXPECT_GT(ledger.current(MemoryKind::kDense) - before, tensors - tensors / 100);
}

TEST_F(MemoryPlanTest, ComponentsOutsideThePlanAreRefused) {
  auto engine = Engine::Load({.model = *dir_, .threads = 1, .context = 32, .memory = "1GiB"});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto audio = (*engine)->audio_encoder();
  ASSERT_FALSE(audio.ok());
  EXPECT_NE(audio.status().message().find("does not hold the audio encoder"), std::string::npos)
      << audio.status().message();
  auto speaker = Speaker::Load(engine->get());
  ASSERT_FALSE(speaker.ok());
  EXPECT_NE(speaker.status().message().find("the talker"), std::string::npos)
      << speaker.status().message();
}

// A store whose layer projections are int8 (extract --quant-dense): the plan counts the stored
// bytes, which are what the thinker, talker and code predictor hold.
TEST_F(MemoryPlanTest, Int8DenseWeightsArePlannedAsStored) {
  ExtractOptions x{
      .model = *dir_, .out = *dir_ + "-dense8", .quant_dense = true, .progress = false};
  ASSERT_TRUE(ExtractStore(x).ok());
  MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t dense0 = ledger.current(MemoryKind::kDense);
  auto engine =
      Engine::Load({.model = x.out, .threads = 2, .context = 64, .memory = "1GiB", .speech = true});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Engine& e = **engine;
  EXPECT_EQ(e.config().text.dense_format, WeightFormat::kInt8);
  EXPECT_EQ(e.config().talker.text.dense_format, WeightFormat::kInt8);
  EXPECT_EQ(e.config().talker.code_predictor.dense_format, WeightFormat::kInt8);
  const MemoryLimitPlan& plan = *e.memory_plan();
  EXPECT_EQ(ledger.current(MemoryKind::kDense) - dense0, Item(plan, "thinker weights")->bytes);
  const MemoryLimitPlan bf16 = PlanItems(PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe),
                                         {.needs = {.speech = true}, .context = 64});
  EXPECT_LT(Item(plan, "thinker weights")->bytes, Item(bf16, "thinker weights")->bytes);
  EXPECT_LT(Item(plan, kTalkerWeights)->bytes, Item(bf16, kTalkerWeights)->bytes);
  EXPECT_LT(Item(plan, kCodePredictorWeights)->bytes, Item(bf16, kCodePredictorWeights)->bytes);
  const uint64_t before = ledger.current(MemoryKind::kDense);
  ledger.ResetPeaks();
  auto speaker = Speaker::Load(&e);
  ASSERT_TRUE(speaker.ok()) << speaker.status().ToString();
  EXPECT_LE(ledger.peak(MemoryKind::kDense) - before, Item(plan, kTalkerWeights)->bytes +
                                                          Item(plan, kCodePredictorWeights)->bytes +
                                                          Item(plan, kCode2WavWeights)->bytes);
  fs::remove_all(x.out);
}

// At the smallest limit (the experts at their minimum), the logits are the unlimited run's.
TEST_F(MemoryPlanTest, LogitsUnderTheSmallestLimitAreExact) {
  std::vector<int32_t> ids(40);
  std::iota(ids.begin(), ids.end(), 7);
  auto free = Engine::Load({.model = *dir_, .threads = 2, .context = 64});
  ASSERT_TRUE(free.ok());
  Session fs(free->get());
  auto want = fs.EvalAll(ids);
  ASSERT_TRUE(want.ok());
  const MemoryLimitPlan items = PlanItems((*free)->config(), {.context = 64, .threads = 2});
  MemoryLedger::Global().ResetPeaks();
  auto limited = Engine::Load({.model = *dir_,
                               .threads = 2,
                               .context = 64,
                               .memory = std::to_string(items.minimum_limit())});
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  EXPECT_EQ((*limited)->expert_budget_bytes(), items.expert_minimum);
  Session ls(limited->get());
  auto got = ls.EvalAll(ids);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), want->size());
  EXPECT_EQ(std::memcmp(got->data(), want->data(), want->size() * sizeof(float)), 0);
  EXPECT_LE(MemoryLedger::Global().peak_total(), MemoryLedger::Global().limit());
  limited->reset();  // gives the ledger's limit back
  EXPECT_EQ(MemoryLedger::Global().limit(), 0u);
  auto refused = Engine::Load({.model = *dir_,
                               .threads = 2,
                               .context = 64,
                               .memory = std::to_string(items.minimum_limit() - 1)});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("below the minimum"), std::string::npos);
}

}  // namespace
}  // namespace omnisage

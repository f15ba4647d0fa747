// DecoderActivations: a decode step allocates nothing (counted by replacing the global operator
// new), the ledger's activation figure is the struct's size, and the buffers hold their shapes.
#include "model/activations.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "generated_model.h"
#include "io/weight_source.h"
#include "model/synth.h"
#include "model/text_model.h"
#include "source_paths.h"
#include "util/memory_ledger.h"
#include "util/thread_pool.h"

namespace {
// Allocations made by any thread while `counting` is set.
std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class ActivationsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_activations_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* ActivationsTest::dir_ = nullptr;

TEST_F(ActivationsTest, DecodeStepAllocatesNothingAndLedgerIsTheStructSize) {
  auto source = OpenCheckpointSource(*dir_);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto config = LoadModelConfig((*source)->config_path());
  ASSERT_TRUE(config.ok());
  auto model = TextModel::Load(**source, *config);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(2);
  KvCache cache = (*model)->NewCache(64);
  std::vector<float> logits((*model)->vocab_size());
  const std::vector<int32_t> prompt = {11, 22, 33, 44, 55, 66, 77, 88};
  const auto before =
      static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations));
  ASSERT_TRUE((*model)
                  ->Forward(prompt.data(), 8, &cache, /*all_positions=*/false, logits.data(), &pool)
                  .ok());
  int32_t token = 5;
  // One warm-up step: per-thread kernel scratch grows to its decode size here.
  ASSERT_TRUE((*model)->Forward(&token, 1, &cache, false, logits.data(), &pool).ok());

  const DecoderActivations& act = (*model)->decoder().activations();
  EXPECT_EQ(act.max_tokens, 8);
  EXPECT_EQ(act.context, 64);
  EXPECT_EQ(static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations)) - before,
            static_cast<int64_t>(act.bytes()));
  const DecoderConfig& c = (*model)->config();
  EXPECT_EQ(act.normed.size(), static_cast<size_t>(8 * c.hidden_size));
  EXPECT_EQ(act.router_probs.size(), static_cast<size_t>(8 * c.num_experts));
  EXPECT_EQ(act.scores.size(), static_cast<size_t>(2 * 64));
  const uint64_t bytes = act.bytes();

  allocations = 0;
  counting = true;
  for (int step = 0; step < 4; ++step) {
    Status s = (*model)->Forward(&token, 1, &cache, false, logits.data(), &pool);
    if (!s.ok()) break;
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0) << "a decode step allocated";
  // The counter itself works: a vector allocates while counting.
  counting = true;
  std::vector<float>* probe = new std::vector<float>(16);
  counting = false;
  EXPECT_GE(allocations.load(), 1);
  delete probe;
  EXPECT_EQ(act.bytes(), bytes);
  EXPECT_EQ(cache.length(), 8 + 1 + 4);
}

TEST(DecoderActivations, GrowsNeverShrinksAndChargesTheLedger) {
  DecoderConfig c;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.num_experts = 8;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 12;
  c.intermediate_size = 20;
  const auto before =
      static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations));
  {
    DecoderActivations a;
    a.Reserve(c, 4, 32, 2, 1, /*contributions=*/false);
    EXPECT_EQ(a.delta.size(), 4u * 16);
    EXPECT_EQ(a.uses.size(), 4u * 2);
    EXPECT_TRUE(a.slot_outputs.empty());
    EXPECT_TRUE(a.mlp_gate.empty());  // every layer is MoE
    EXPECT_EQ(
        static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations)) - before,
        static_cast<int64_t>(a.bytes()));
    const uint64_t small = a.bytes();
    a.Reserve(c, 1, 8, 1, 1, false);  // smaller: nothing changes
    EXPECT_EQ(a.bytes(), small);
    a.Reserve(c, 4, 32, 4, 2, /*contributions=*/true);
    EXPECT_EQ(a.slot_outputs.size(), 4u * 4 * 16);
    EXPECT_EQ(a.scores.size(), 2u * 32);
    EXPECT_GT(a.bytes(), small);
    EXPECT_EQ(
        static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations)) - before,
        static_cast<int64_t>(a.bytes()));
  }
  EXPECT_EQ(static_cast<int64_t>(MemoryLedger::Global().current(MemoryKind::kActivations)), before);
}

}  // namespace
}  // namespace omnisage

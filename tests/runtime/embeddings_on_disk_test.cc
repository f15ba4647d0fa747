// --embeddings disk: the thinker's token-embedding rows read from the model file when tokens need
// them give logits memcmp-equal to the resident table's, from the original shards, with every
// --io mode; the ledger holds exactly the table's bytes less; the memory plan counts the same;
// the table's errors name the tensor and the id.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "experts/store.h"
#include "generated_model.h"
#include "io/weight_source.h"
#include "model/embedding_table.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "runtime/memory_plan.h"
#include "source_paths.h"
#include "util/memory_ledger.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class EmbeddingsOnDiskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_embeddings_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* EmbeddingsOnDiskTest::dir_ = nullptr;

// Logits of every position of a prompt and of 8 greedy steps after it.
std::vector<float> Logits(Engine& e) {
  std::vector<int32_t> ids(30);
  for (int i = 0; i < 30; ++i) ids[i] = (i * 131 + 7) % 4000;
  Session s(&e);
  std::vector<float> out = *s.EvalAll(ids);
  Session g(&e);
  GenerateOptions o;
  o.max_tokens = 8;
  std::vector<int32_t> answer;
  EXPECT_TRUE(g.Generate(ids, o, [&](int32_t id) {
                 answer.push_back(id);
                 return true;
               }).ok());
  for (int32_t id : answer) out.push_back(static_cast<float>(id));
  return out;
}

TEST_F(EmbeddingsOnDiskTest, LogitsEqualTheResidentTable) {
  MemoryLedger& ledger = MemoryLedger::Global();
  const uint64_t before = ledger.current(MemoryKind::kDense);
  auto resident = Engine::Load({.model = *dir_, .threads = 2, .context = 64});
  ASSERT_TRUE(resident.ok());
  const uint64_t resident_dense = ledger.current(MemoryKind::kDense) - before;
  const std::vector<float> want = Logits(**resident);
  const DecoderConfig& c = (*resident)->config().text;
  const uint64_t table = static_cast<uint64_t>(c.vocab_size) * c.hidden_size * 2;
  const ModelConfig config = (*resident)->config();
  resident->reset();
  for (const char* io : {"direct", "drop", "cached"}) {
    SCOPED_TRACE(io);
    const uint64_t at = ledger.current(MemoryKind::kDense);
    auto disk =
        Engine::Load({.model = *dir_, .threads = 2, .context = 64, .io = io, .embeddings = "disk"});
    ASSERT_TRUE(disk.ok()) << disk.status().ToString();
    EXPECT_FALSE((*disk)->model().embedding().resident());
    EXPECT_EQ(ledger.current(MemoryKind::kDense) - at, resident_dense - table);
    const std::vector<float> got = Logits(**disk);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0);
  }
  // The plan counts the same saving.
  const MemoryLimitPlan a = PlanItems(config, {}),
                        b = PlanItems(config, {.embeddings_on_disk = true});
  EXPECT_EQ(a.items[0].bytes - b.items[0].bytes, table);
}

TEST_F(EmbeddingsOnDiskTest, ErrorsNameTheTensorAndTheId) {
  auto source = OpenWeightSource(*dir_);
  ASSERT_TRUE(source.ok());
  const std::string name = "thinker.model.embed_tokens.weight";
  const WeightEntry* e = (*source)->Find(name);
  ASSERT_NE(e, nullptr);
  auto wrong = EmbeddingTable::OnDisk(**source, name, e->shape[0] + 1, e->shape[1]);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(name), std::string::npos);
  auto missing = EmbeddingTable::OnDisk(**source, "no.such.weight", 4, 4);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no.such.weight"), std::string::npos);
  auto table = EmbeddingTable::OnDisk(**source, name, e->shape[0], e->shape[1]);
  ASSERT_TRUE(table.ok());
  std::vector<float> row(e->shape[1]);
  const int32_t bad = static_cast<int32_t>(e->shape[0]);
  const Status s = table->Widen(&bad, 1, row.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(std::to_string(bad)), std::string::npos) << s.message();
  // The same row through both tables.
  auto resident = EmbeddingTable::LoadResident(**source, name, e->shape[0], e->shape[1]);
  ASSERT_TRUE(resident.ok());
  std::vector<float> other(e->shape[1]);
  const int32_t id = 1234;
  ASSERT_TRUE(table->Widen(&id, 1, row.data()).ok());
  ASSERT_TRUE(resident->Widen(&id, 1, other.data()).ok());
  EXPECT_EQ(std::memcmp(row.data(), other.data(), row.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace omnisage

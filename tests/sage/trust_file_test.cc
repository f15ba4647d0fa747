// Saving trust records: two tables saving one file concurrently lose neither's observations (the
// merged file equals one table that saw everything, up to rounding), a single writer's file is
// exactly its table, no temporary file is left, and an unreadable file says how to recover.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "sage/trust.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

uint64_t Key(int layer, int expert) { return ExpertKey{Component::kThinker, layer, expert}.Pack(); }

// Observes contribution `i` of a fixed pseudo-random sequence: output y = (1, a), combined
// (1, b), weight w, so cosine and share vary from one to the next.
void ObserveNth(TrustTable* t, uint64_t key, int i) {
  const float a = static_cast<float>(std::sin(i * 1.3)), b = static_cast<float>(std::cos(i * 0.7));
  const float y[2] = {1.0f, a}, c[2] = {1.0f, b};
  t->Observe(key, {0, 0, 0, 0.2f + 0.05f * static_cast<float>(i % 7), y, c, 2});
}

class TrustFileSaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("omnisage_trust_save_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  int TempFiles() const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
      n += e.path().filename().string().ends_with(".tmp") ? 1 : 0;
    }
    return n;
  }
  fs::path dir_;
};

TEST_F(TrustFileSaveTest, ConcurrentSavesMergeBothTablesObservations) {
  const std::string path = Path("trust.json");
  // A file both start from: 10 uses and 2 loads of expert (0, 1).
  TrustTable start, whole;
  for (int i = 0; i < 10; ++i) {
    ObserveNth(&start, Key(0, 1), i);
    ObserveNth(&whole, Key(0, 1), i);
  }
  start.OnLoad(Key(0, 1), 1 << 20, 2.0);
  whole.OnLoad(Key(0, 1), 1 << 20, 2.0);
  ASSERT_TRUE(start.Save(path).ok());

  TrustTable a, b;
  ASSERT_TRUE(a.Load(path).ok());
  ASSERT_TRUE(b.Load(path).ok());
  // a: uses 10..29 of (0, 1), one load; b: uses 30..44 of (0, 1), and expert (1, 2) alone.
  for (int i = 10; i < 30; ++i) ObserveNth(&a, Key(0, 1), i);
  a.OnLoad(Key(0, 1), 1 << 20, 3.0);
  for (int i = 30; i < 45; ++i) ObserveNth(&b, Key(0, 1), i);
  for (int i = 0; i < 5; ++i) ObserveNth(&b, Key(1, 2), i);
  b.set_hot_set({Key(1, 2)});
  // `whole` sees the same uses in the order the saves will be merged in (either order gives the
  // same counts; the share statistics are order-free).
  for (int i = 10; i < 45; ++i) ObserveNth(&whole, Key(0, 1), i);
  whole.OnLoad(Key(0, 1), 1 << 20, 3.0);

  Status sa, sb;
  std::thread ta([&] { sa = a.Save(path); });
  std::thread tb([&] { sb = b.Save(path); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.ToString();
  ASSERT_TRUE(sb.ok()) << sb.ToString();
  EXPECT_EQ(TempFiles(), 0);

  TrustTable merged;
  ASSERT_TRUE(merged.Load(path).ok());
  const TrustRecord m = merged.Get(Key(0, 1)), w = whole.Get(Key(0, 1));
  EXPECT_EQ(m.uses, 45u);
  EXPECT_EQ(m.loads, 2u);
  EXPECT_DOUBLE_EQ(m.load_ms, 5.0);
  EXPECT_NEAR(m.share_mean, w.share_mean, 1e-12);
  EXPECT_NEAR(m.share_m2, w.share_m2, 1e-12);
  EXPECT_NEAR(m.stability, w.stability, 1e-12);
  EXPECT_GT(m.convergence, 0.0);
  EXPECT_LE(m.convergence, 1.0);
  EXPECT_EQ(merged.Get(Key(1, 2)).uses, 5u);
  EXPECT_EQ(merged.hot_set(), std::vector<uint64_t>{Key(1, 2)});
  // Whichever saved second now holds the merged records; a third save by either adds nothing.
  ASSERT_TRUE(a.Save(path).ok());
  ASSERT_TRUE(b.Save(path).ok());
  TrustTable again;
  ASSERT_TRUE(again.Load(path).ok());
  EXPECT_EQ(again.Get(Key(0, 1)).uses, 45u);
  EXPECT_EQ(again.Get(Key(1, 2)).uses, 5u);
}

// The EMA merge is exact when the file had uses before both tables: applying b's uses after a's
// equals one table observing them in that order.
TEST_F(TrustFileSaveTest, SequentialSavesMergeTheConvergenceExactly) {
  const std::string path = Path("trust.json");
  TrustTable start, whole;
  for (int i = 0; i < 4; ++i) {
    ObserveNth(&start, Key(2, 3), i);
    ObserveNth(&whole, Key(2, 3), i);
  }
  ASSERT_TRUE(start.Save(path).ok());
  TrustTable a, b;
  ASSERT_TRUE(a.Load(path).ok());
  ASSERT_TRUE(b.Load(path).ok());
  for (int i = 4; i < 9; ++i) ObserveNth(&a, Key(2, 3), i);
  for (int i = 9; i < 16; ++i) ObserveNth(&b, Key(2, 3), i);
  for (int i = 4; i < 16; ++i) ObserveNth(&whole, Key(2, 3), i);
  ASSERT_TRUE(a.Save(path).ok());
  ASSERT_TRUE(b.Save(path).ok());
  TrustTable merged;
  ASSERT_TRUE(merged.Load(path).ok());
  EXPECT_NEAR(merged.Get(Key(2, 3)).convergence, whole.Get(Key(2, 3)).convergence, 1e-12);
  EXPECT_EQ(merged.Get(Key(2, 3)).uses, 16u);
  // b's table took the merge as its own.
  EXPECT_EQ(b.Get(Key(2, 3)).uses, 16u);
}

TEST_F(TrustFileSaveTest, ASingleWritersFileIsItsTableExactly) {
  const std::string path = Path("trust.json");
  TrustTable t;
  for (int i = 0; i < 20; ++i) ObserveNth(&t, Key(0, i % 3), i);
  t.OnLoad(Key(0, 1), 3 << 20, 1.5);
  for (int round = 0; round < 3; ++round) {
    const auto before = t.Snapshot();
    ASSERT_TRUE(t.Save(path).ok());
    const auto after = t.Snapshot();  // the table is unchanged by its own save
    ASSERT_EQ(before.size(), after.size());
    TrustTable u;
    ASSERT_TRUE(u.Load(path).ok());
    const auto loaded = u.Snapshot();
    ASSERT_EQ(loaded.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(before[i].first, after[i].first);
      EXPECT_EQ(before[i].second.uses, after[i].second.uses);
      EXPECT_EQ(before[i].second.convergence, after[i].second.convergence);
      EXPECT_EQ(before[i].second.share_m2, after[i].second.share_m2);
      EXPECT_EQ(loaded[i].second.uses, before[i].second.uses);
      EXPECT_EQ(loaded[i].second.convergence, before[i].second.convergence);
      EXPECT_EQ(loaded[i].second.share_mean, before[i].second.share_mean);
      EXPECT_EQ(loaded[i].second.share_m2, before[i].second.share_m2);
      EXPECT_EQ(loaded[i].second.trust, before[i].second.trust);
    }
    ObserveNth(&t, Key(0, 1), 100 + round);
  }
}

TEST_F(TrustFileSaveTest, CorruptFileSaysHowToRecoverAndIsNotOverwritten) {
  const std::string path = Path("trust.json");
  const std::string torn = "{\"format\": \"omnisage-trust\", \"version\": 1, ";
  std::ofstream(path) << torn;
  TrustTable t;
  Status load = t.Load(path);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(load.message().find(path + ": invalid JSON"), std::string::npos) << load.message();
  EXPECT_NE(load.message().find("delete it"), std::string::npos) << load.message();
  EXPECT_NE(load.message().find("omnisage dream"), std::string::npos) << load.message();
  ObserveNth(&t, Key(0, 0), 0);
  Status save = t.Save(path);
  EXPECT_FALSE(save.ok());
  EXPECT_NE(save.message().find("delete it"), std::string::npos) << save.message();
  EXPECT_EQ(fs::file_size(path), torn.size());  // left as it was
}

}  // namespace
}  // namespace omnisage

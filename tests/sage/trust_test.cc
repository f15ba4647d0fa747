// TrustTable: convergence, stability and efficiency on hand-made contributions; neutral records;
// save / load round trip and errors that name the file and the field.
#include "sage/trust.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/file.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

// A contribution of `weight` with output `y` to the combined output `combined`.
struct Contribution {
  std::vector<float> y, combined;
  float weight;
  ExpertContribution Get(int layer = 0, int expert = 0) {
    return {layer, 0, expert, weight, y.data(), combined.data(), static_cast<int64_t>(y.size())};
  }
};

constexpr uint64_t kMiB = 1 << 20;

uint64_t Key(int layer, int expert) { return ExpertKey{Component::kThinker, layer, expert}.Pack(); }

TEST(TrustTest, ConvergenceIsOneForIdenticalOutputAndZeroForOpposite) {
  TrustTable t;
  Contribution same{{1, 2, 3}, {1, 2, 3}, 1.0f};
  Contribution opposite{{-1, -2, -3}, {1, 2, 3}, 0.5f};
  Contribution orthogonal{{0, 0, 5}, {1, 0, 0}, 0.5f};
  for (int i = 0; i < 3; ++i) {
    t.Observe(Key(0, 1), same.Get());
    t.Observe(Key(0, 2), opposite.Get());
    t.Observe(Key(0, 3), orthogonal.Get());
  }
  EXPECT_DOUBLE_EQ(t.Get(Key(0, 1)).convergence, 1.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(0, 2)).convergence, 0.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(0, 3)).convergence, 0.5);
  EXPECT_EQ(t.Get(Key(0, 1)).uses, 3u);
  EXPECT_DOUBLE_EQ(t.View(Key(0, 1)).convergence, 1.0);
  EXPECT_DOUBLE_EQ(t.View(Key(0, 2)).convergence, 0.0);
}

TEST(TrustTest, ConvergenceIsAnEmaSetByTheFirstUse) {
  TrustTable t;
  Contribution same{{1, 0}, {1, 0}, 1.0f};
  Contribution opposite{{-1, 0}, {1, 0}, 1.0f};
  t.Observe(Component::kThinker, same.Get(4, 7));  // key from the contribution
  EXPECT_DOUBLE_EQ(t.Get(Key(4, 7)).convergence, 1.0);
  t.Observe(Key(4, 7), opposite.Get(4, 7));
  EXPECT_DOUBLE_EQ(t.Get(Key(4, 7)).convergence, 1.0 - kConvergenceAlpha);
}

TEST(TrustTest, StabilityDropsWithTheVarianceOfTheShare) {
  TrustTable t;
  // ‖y‖ = ‖combined‖, so the share is the weight.
  Contribution c{{3, 4}, {4, 3}, 0.4f};
  for (int i = 0; i < 10; ++i) t.Observe(Key(0, 0), c.Get());  // constant 0.4
  for (int i = 0; i < 10; ++i) {                               // 0.2, 0.6: mean 0.4, var 0.04
    c.weight = i % 2 ? 0.2f : 0.6f;
    t.Observe(Key(0, 1), c.Get());
  }
  for (int i = 0; i < 10; ++i) {  // 0.1, 0.7: mean 0.4, var 0.09
    c.weight = i % 2 ? 0.1f : 0.7f;
    t.Observe(Key(0, 2), c.Get());
  }
  const TrustRecord r0 = t.Get(Key(0, 0)), r1 = t.Get(Key(0, 1)), r2 = t.Get(Key(0, 2));
  EXPECT_DOUBLE_EQ(r0.stability, 1.0);
  EXPECT_NEAR(r0.share_mean, 0.4, 1e-6);
  EXPECT_NEAR(r1.stability, 1.0 / (1.0 + 0.25), 1e-5);    // cv² = 0.04 / 0.16
  EXPECT_NEAR(r2.stability, 1.0 / (1.0 + 0.5625), 1e-5);  // cv² = 0.09 / 0.16
  EXPECT_GT(r0.stability, r1.stability);
  EXPECT_GT(r1.stability, r2.stability);
  EXPECT_NEAR(t.View(Key(0, 2)).stability, r2.stability, 1e-12);
}

TEST(TrustTest, FewerThanTwoUsesReadNeutral) {
  TrustTable t;
  Contribution same{{1, 2}, {1, 2}, 1.0f};
  EXPECT_DOUBLE_EQ(t.Trust(Key(0, 0)), 0.5);  // no record
  t.Observe(Key(0, 0), same.Get());
  EXPECT_DOUBLE_EQ(t.Trust(Key(0, 0)), 0.5);
  EXPECT_DOUBLE_EQ(t.View(Key(0, 0)).convergence, 0.5);
  EXPECT_DOUBLE_EQ(t.View(Key(0, 0)).stability, 0.5);
  t.Observe(Key(0, 0), same.Get());
  // convergence 1, stability 1, efficiency neutral (never loaded): 0.4 + 0.4 + 0.1.
  EXPECT_DOUBLE_EQ(t.Trust(Key(0, 0)), 0.9);
}

TEST(TrustTest, ObservationsWithoutDirectionAreIgnored) {
  TrustTable t;
  Contribution zero_combined{{1, 2}, {0, 0}, 1.0f};
  t.Observe(Key(0, 0), zero_combined.Get());
  EXPECT_EQ(t.Get(Key(0, 0)).uses, 0u);
  Contribution zero_output{{0, 0}, {1, 2}, 0.5f};
  t.Observe(Key(0, 1), zero_output.Get());
  EXPECT_EQ(t.Get(Key(0, 1)).uses, 1u);
  EXPECT_DOUBLE_EQ(t.Get(Key(0, 1)).convergence, 0.5);  // cos taken as 0
  EXPECT_DOUBLE_EQ(t.Get(Key(0, 1)).share_mean, 0.0);
}

TEST(TrustTest, EfficiencyIsContributionPerMibNormalisedToTheMaximum) {
  TrustTable t;
  Contribution c{{1, 0}, {2, 0}, 1.0f};  // share 0.5
  for (int i = 0; i < 4; ++i) {
    t.Observe(Key(1, 0), c.Get());
    t.Observe(Key(1, 1), c.Get());
    t.Observe(Key(1, 2), c.Get());
  }
  t.OnLoad(Key(1, 0), 9 * kMiB, 3.0);
  t.OnLoad(Key(1, 1), 9 * kMiB, 3.0);
  t.OnLoad(Key(1, 1), 9 * kMiB, 3.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 0)).efficiency, 1.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 1)).efficiency, 0.5);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 2)).efficiency, 0.5);  // never loaded: neutral
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 1)).loaded_mib, 18.0);
  EXPECT_EQ(t.Get(Key(1, 1)).loads, 2u);
  // Reloading the best expert three more times makes expert 1 the best.
  for (int i = 0; i < 3; ++i) t.OnLoad(Key(1, 0), 9 * kMiB, 3.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 0)).efficiency, 0.5);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 1)).efficiency, 1.0);
  // More uses raise it again.
  for (int i = 0; i < 4; ++i) t.Observe(Key(1, 0), c.Get());
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 0)).efficiency, 1.0);
  EXPECT_DOUBLE_EQ(t.Get(Key(1, 1)).efficiency, 1.0);
  // trust = 0.4 · 1 (cos = 1) + 0.4 · 1 (constant share) + 0.2 · efficiency.
  EXPECT_DOUBLE_EQ(t.Trust(Key(1, 1)), 1.0);
  double row[3];
  t.TrustOfLayer(Component::kThinker, 1, 3, row);
  EXPECT_DOUBLE_EQ(row[0], 1.0);
  EXPECT_DOUBLE_EQ(row[2], 0.9);
}

TEST(TrustTest, LookupReadsTheView) {
  TrustTable t;
  Contribution opposite{{-1, 0}, {1, 0}, 1.0f};
  t.Observe(Key(0, 0), opposite.Get());
  t.Observe(Key(0, 0), opposite.Get());
  const TrustLookup lookup = t.Lookup();
  EXPECT_DOUBLE_EQ(lookup(Key(0, 0)).convergence, 0.0);
  EXPECT_DOUBLE_EQ(lookup(Key(0, 9)).convergence, 0.5);
}

class TrustFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("omnisage_trust_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
  }
  fs::path dir_;
};

TEST_F(TrustFileTest, SaveLoadRoundTrip) {
  TrustTable t;
  Contribution c{{1, 2, 3}, {2, 1, 3}, 0.3f};
  for (int i = 0; i < 5; ++i) {
    c.weight = 0.1f * (i + 1);
    t.Observe(Key(3, 17), c.Get());
    t.Observe(ExpertKey{Component::kTalker, 19, 127}.Pack(), c.Get());
  }
  t.OnLoad(Key(3, 17), 9 * kMiB, 2.5);
  t.MutateOne(Key(5, 5), [](TrustRecord& r) {
    r.routed = 3.5;
    r.mean_weight = 0.25;
  });
  t.set_hot_set({Key(5, 5), Key(3, 17)});
  ASSERT_TRUE(t.Save(Path("trust.json")).ok());
  EXPECT_FALSE(fs::exists(Path("trust.json.tmp")));

  TrustTable u;
  const Status s = u.Load(Path("trust.json"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(u.hot_set(), t.hot_set());
  const auto a = t.Snapshot(), b = u.Snapshot();
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    const TrustRecord &x = a[i].second, &y = b[i].second;
    EXPECT_EQ(x.uses, y.uses);
    EXPECT_EQ(x.convergence, y.convergence);
    EXPECT_EQ(x.share_mean, y.share_mean);
    EXPECT_EQ(x.share_m2, y.share_m2);
    EXPECT_EQ(x.loads, y.loads);
    EXPECT_EQ(x.loaded_mib, y.loaded_mib);
    EXPECT_EQ(x.load_ms, y.load_ms);
    EXPECT_EQ(x.routed, y.routed);
    EXPECT_EQ(x.mean_weight, y.mean_weight);
    EXPECT_EQ(x.trust, y.trust);
  }
}

TEST_F(TrustFileTest, BadFilesNameTheFileAndTheField) {
  TrustTable t;
  Contribution c{{1, 2}, {1, 2}, 0.5f};
  t.Observe(Key(0, 0), c.Get());
  t.Observe(Key(0, 0), c.Get());
  const std::string head = R"({"format": "omnisage-trust", "version": 1, "hot_set": [], )";
  const std::string rec =
      R"("component": "thinker", "layer": 1, "expert": 2, "uses": 4, "share_mean": 0.2,
         "share_m2": 0.01, "loads": 1, "loaded_mib": 9, "load_ms": 1, "routed": 0,
         "mean_weight": 0)";
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {head + R"("experts": [{)" + rec + R"(, "convergence": 1.5}]})",
       "bad.json: experts.0.convergence: 1.5 is outside [0, 1]"},
      {head + R"("experts": [{)" + rec + R"(, "convergence": "high"}]})",
       "bad.json: experts.0.convergence: expected a number"},
      {head + R"("experts": [{"component": "thinker", "layer": 1, "expert": 2}]})",
       "bad.json: experts.0.uses: missing"},
      {head + R"("experts": [{)" + rec + R"(, "convergence": 0.5}, {)" + rec +
           R"(, "convergence": 0.5}]})",
       "bad.json: experts.1: a second record for thinker layer 1 expert 2"},
      {R"({"format": "omnisage-trust", "version": 1, "experts": [],
          "hot_set": [{"component": "brain", "layer": 0, "expert": 0}]})",
       "bad.json: hot_set.0.component: unknown component 'brain'"},
      {R"({"format": "omnisage-trust", "version": 2, "experts": [], "hot_set": []})",
       "bad.json: version: version 2 is not supported"},
      {R"({"format": "omnisage-trust", "version": 1, "hot_set": []})",
       "bad.json: experts: missing"},
      {R"({"format": "omnisage-trust", "version": 1, )", "bad.json: invalid JSON"},
  };
  for (const Case& k : cases) {
    Write("bad.json", k.text);
    const Status s = t.Load(Path("bad.json"));
    ASSERT_FALSE(s.ok()) << k.text;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(Path(k.expected)), std::string::npos)
        << s.message() << "\nexpected: " << k.expected;
    // The table is unchanged.
    EXPECT_EQ(t.size(), 1u);
    EXPECT_DOUBLE_EQ(t.Trust(Key(0, 0)), 0.9);
  }
  EXPECT_FALSE(t.Load(Path("absent.json")).ok());
}

}  // namespace
}  // namespace omnisage

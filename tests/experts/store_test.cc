// Expert store: extract -> verify -> repack round trips, corruption detection, injected faults and
// resumption, partial selections.
#include "experts/store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "experts/extract.h"
#include "experts/repack.h"
#include "experts/verify.h"
#include "io/checkpoint.h"
#include "io/fault_injection.h"
#include "io/file.h"
#include "model/config.h"
#include "model/inventory.h"
#include "model/synth.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("omnisage_store_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string Synth(const std::string& name, ExpertLayout layout = ExpertLayout::kPerExpert,
                    Arch arch = Arch::kQwen3OmniMoe) {
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = arch;
    o.layout = layout;
    o.out_dir = Path(name);
    o.tokenizer_dir = ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer";
    o.progress = false;
    auto r = SynthesizeCheckpoint(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return o.out_dir;
  }

  ExtractOptions Extract(const std::string& model, const std::string& out,
                         FileSystem* fs = nullptr) {
    ExtractOptions o;
    o.model = model;
    o.out = out;
    o.progress = false;
    o.fs = fs;
    return o;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Every tensor of `a` has the same dtype, shape and bytes in `b`.
  static void ExpectSameTensors(const WeightSource& a, const WeightSource& b) {
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    for (const WeightEntry& t : a.tensors()) {
      const WeightEntry* u = b.Find(t.name);
      ASSERT_NE(u, nullptr) << t.name;
      EXPECT_EQ(u->dtype, t.dtype) << t.name;
      EXPECT_EQ(u->shape, t.shape) << t.name;
      std::string x(t.nbytes, '\0'), y(u->nbytes, '\0');
      ASSERT_TRUE(a.Read(t, 0, x.size(), x.data()).ok());
      ASSERT_TRUE(b.Read(*u, 0, y.size(), y.data()).ok());
      EXPECT_EQ(x, y) << t.name;
    }
  }

  fs::path dir_;
};

TEST_F(StoreTest, ExtractVerifyRepackRoundTripIsByteIdentical) {
  const std::string model = Synth("model");
  auto r = ExtractStore(Extract(model, Path("store")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->expert_files, 2u * 8 + 2u * 8);  // thinker + talker, 2 layers x 8 experts
  EXPECT_EQ(r->files_skipped, 0u);
  EXPECT_TRUE(fs::exists(Path("store/experts/thinker/layer_01/expert_007.safetensors")));
  EXPECT_TRUE(fs::exists(Path("store/routers/talker.safetensors")));
  EXPECT_TRUE(fs::exists(Path("store/dense/code2wav.safetensors")));
  EXPECT_TRUE(fs::exists(Path("store/config.json")));
  EXPECT_FALSE(fs::exists(Path("store/extract.journal")));

  auto v = VerifyStore(Path("store"), false);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->problems.empty());
  EXPECT_GT(v->files, 40u);

  auto p = RepackStore({.store = Path("store"), .out = Path("repacked"), .progress = false});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  for (const auto& e : fs::directory_iterator(model)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(ReadAll(e.path().string()), ReadAll(Path("repacked/" + name))) << name;
  }
}

TEST_F(StoreTest, StoreOpensAsWeightSourceWithTheSameTensors) {
  const std::string model = Synth("model");
  ASSERT_TRUE(ExtractStore(Extract(model, Path("store"))).ok());
  auto a = OpenWeightSource(model);
  auto b = OpenWeightSource(Path("store"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->kind(), "checkpoint");
  EXPECT_EQ((*b)->kind(), "expert store");
  ExpectSameTensors(**a, **b);
  auto config = LoadModelConfig((*b)->config_path());
  ASSERT_TRUE(config.ok());
  Inventory ia = TakeInventory(**a, &*config), ib = TakeInventory(**b, &*config);
  EXPECT_EQ(ia.parameters, ib.parameters);
  EXPECT_EQ(ia.expert_bytes, ib.expert_bytes);
  ASSERT_EQ(ib.moe_stacks.size(), 2u);
  EXPECT_EQ(ib.moe_stacks[0].experts_per_layer, 8);
  EXPECT_EQ(ib.moe_stacks[0].bytes_per_expert, ia.moe_stacks[0].bytes_per_expert);
}

TEST_F(StoreTest, FusedSourceIsSplitPerExpert) {
  const std::string per_expert = Synth("per_expert");
  const std::string fused = Synth("fused", ExpertLayout::kFused);
  ASSERT_TRUE(ExtractStore(Extract(fused, Path("store"))).ok());
  auto store = ExpertStore::Open(Path("store"));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->manifest().expert_layout, "fused");
  // The store holds per-expert tensors equal to the per-expert checkpoint's.
  auto a = OpenWeightSource(per_expert);
  ASSERT_TRUE(a.ok());
  ExpectSameTensors(**a, **store);
  ASSERT_TRUE(
      RepackStore({.store = Path("store"), .out = Path("repacked"), .progress = false}).ok());
  auto b = OpenWeightSource(Path("repacked"));
  ASSERT_TRUE(b.ok());
  ExpectSameTensors(**a, **b);
}

TEST_F(StoreTest, Qwen3MoeRoundTrip) {
  const std::string model = Synth("model", ExpertLayout::kPerExpert, Arch::kQwen3Moe);
  ASSERT_TRUE(ExtractStore(Extract(model, Path("store"))).ok());
  EXPECT_TRUE(fs::exists(Path("store/experts/text/layer_00/expert_000.safetensors")));
  ASSERT_TRUE(
      RepackStore({.store = Path("store"), .out = Path("repacked"), .progress = false}).ok());
  auto a = OpenWeightSource(model), b = OpenWeightSource(Path("repacked"));
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectSameTensors(**a, **b);
}

TEST_F(StoreTest, VerifyNamesEachBadFile) {
  ASSERT_TRUE(ExtractStore(Extract(Synth("model"), Path("store"))).ok());
  const std::string flipped = "experts/thinker/layer_00/expert_003.safetensors";
  const std::string truncated = "experts/talker/layer_01/expert_005.safetensors";
  const std::string removed = "routers/thinker.safetensors";
  {
    std::fstream f(Path("store/" + flipped), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('\x7f');
  }
  fs::resize_file(Path("store/" + truncated), fs::file_size(Path("store/" + truncated)) - 1);
  fs::remove(Path("store/" + removed));
  auto v = VerifyStore(Path("store"), false);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->problems.size(), 3u);
  std::map<std::string, std::string> bad;
  for (const VerifyProblem& p : v->problems) bad[p.path] = p.problem;
  EXPECT_NE(bad[flipped].find("checksum mismatch"), std::string::npos) << bad[flipped];
  EXPECT_NE(bad[truncated].find("size"), std::string::npos) << bad[truncated];
  EXPECT_NE(bad[removed].find("open"), std::string::npos) << bad[removed];
}

TEST_F(StoreTest, VerifyWithoutManifestExplains) {
  auto v = VerifyStore(Path("nothing"), false);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("manifest.json"), std::string::npos);
}

// Counts files under `dir` whose name ends with `suffix`.
int CountFiles(const std::string& dir, const std::string& suffix) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().string().ends_with(suffix)) ++n;
  }
  return n;
}

TEST_F(StoreTest, DiskFullStopsCleanlyAndResumes) {
  const std::string model = Synth("model");
  FaultInjectingFileSystem faulty;
  faulty.FailWritesAfter(1'500'000);  // part way through the ~1.9 MiB store
  auto r = ExtractStore(Extract(model, Path("store"), &faulty));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("No space left on device"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("resume"), std::string::npos);
  EXPECT_NE(r.status().message().find(Path("store/")), std::string::npos);
  // Nothing looks complete that is not: no manifest, no temporary files left, and every file under
  // a final name is one the journal vouches for.
  EXPECT_FALSE(fs::exists(Path("store/manifest.json")));
  EXPECT_EQ(CountFiles(Path("store"), ".tmp"), 0);
  const int complete = CountFiles(Path("store"), ".safetensors");
  EXPECT_GT(complete, 0);
  auto v = VerifyStore(Path("store"), false);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("resume"), std::string::npos);

  // Space again: the rerun skips what was complete.
  faulty.FailWritesAfter(-1);
  auto again = ExtractStore(Extract(model, Path("store"), &faulty));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->files_skipped, static_cast<uint64_t>(complete));
  EXPECT_GT(again->files_written, 0u);
  auto ok = VerifyStore(Path("store"), false);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->problems.empty());
}

TEST_F(StoreTest, ResumeRewritesAFileThatNoLongerVerifies) {
  const std::string model = Synth("model");
  ASSERT_TRUE(ExtractStore(Extract(model, Path("store"))).ok());
  // Simulate a killed run: manifest gone, journal present, one completed file damaged.
  const std::string journal = Path("store/extract.journal");
  {
    std::ofstream out(journal);
    auto m = ExpertStore::Open(Path("store"));
    ASSERT_TRUE(m.ok());
    for (const StoreFile& f : (*m)->manifest().files) {
      if (f.kind == StoreFileKind::kExtra) continue;
      out << fmt::format("{:016x} {} {}\n", f.xxh3, f.bytes, f.path);
    }
    out << "0123";  // a torn last line
  }
  fs::remove(Path("store/manifest.json"));
  const std::string damaged = Path("store/experts/thinker/layer_01/expert_002.safetensors");
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x01');
  }
  auto r = ExtractStore(Extract(model, Path("store")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_written, 1u);
  auto v = VerifyStore(Path("store"), false);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty());
}

TEST_F(StoreTest, ReadErrorNamesTheShard) {
  const std::string model = Synth("model");
  FaultInjectingFileSystem faulty;
  faulty.FailReads("model-00002-of-00002.safetensors", 200'000);
  auto r = ExtractStore(Extract(model, Path("store"), &faulty));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model-00002-of-00002.safetensors"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(CountFiles(Path("store"), ".tmp"), 0);
  EXPECT_FALSE(fs::exists(Path("store/manifest.json")));
}

TEST_F(StoreTest, FailedRenameLeavesNoFinalFile) {
  const std::string model = Synth("model");
  FaultInjectingFileSystem faulty;
  faulty.FailRenames("expert_004");
  auto r = ExtractStore(Extract(model, Path("store"), &faulty));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expert_004"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Path("store/experts/thinker/layer_00/expert_004.safetensors")));
  EXPECT_EQ(CountFiles(Path("store"), ".tmp"), 0);
}

TEST_F(StoreTest, PartialSelectionAndRepackRefusal) {
  const std::string model = Synth("model");
  ExtractOptions o = Extract(model, Path("store"));
  o.components = {Component::kThinker};
  o.layers = std::pair(1, 1);
  o.experts = {0, 5};
  auto r = ExtractStore(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->expert_files, 2u);
  EXPECT_TRUE(fs::exists(Path("store/experts/thinker/layer_01/expert_005.safetensors")));
  EXPECT_FALSE(fs::exists(Path("store/experts/thinker/layer_00/expert_005.safetensors")));
  EXPECT_FALSE(fs::exists(Path("store/experts/talker")));
  EXPECT_TRUE(fs::exists(Path("store/dense/talker.safetensors")));
  auto v = VerifyStore(Path("store"), false);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty());
  auto p = RepackStore({.store = Path("store"), .out = Path("repacked"), .progress = false});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("only some experts"), std::string::npos);
}

TEST_F(StoreTest, ExtractingAStoreIsRefused) {
  const std::string model = Synth("model");
  ASSERT_TRUE(ExtractStore(Extract(model, Path("store"))).ok());
  auto r = ExtractStore(Extract(Path("store"), Path("store2")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("already an expert store"), std::string::npos);
}

TEST(ParseIndexListTest, RangesAndErrors) {
  auto a = ParseIndexList("0-3,7,2");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (std::vector<int>{0, 1, 2, 3, 7}));
  EXPECT_FALSE(ParseIndexList("").ok());
  EXPECT_FALSE(ParseIndexList("3-1").ok());
  EXPECT_FALSE(ParseIndexList("a").ok());
  EXPECT_FALSE(ParseIndexList("1,,2").ok());
  EXPECT_FALSE(ParseIndexList("-2").ok());
}

// A store keeps a descriptor per expert file: opening one raises a low soft limit on open
// files so that reading every tensor never fails with "Too many open files".
TEST_F(StoreTest, OpeningAStoreRaisesALowOpenFileLimit) {
  ASSERT_TRUE(ExtractStore(Extract(Synth("model"), Path("store"))).ok());
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 2048) GTEST_SKIP() << "hard limit";
  struct Restore {
    rlimit limit;
    ~Restore() { setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{saved};
  struct rlimit low = saved;
  low.rlim_cur = 32;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  auto store = ExpertStore::Open(Path("store"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  struct rlimit now;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_GE(now.rlim_cur, (*store)->files().size() + 256);
  std::vector<uint8_t> buf;
  for (const WeightEntry& t : (*store)->tensors()) {
    buf.resize(t.nbytes);
    ASSERT_TRUE((*store)->Read(t, 0, t.nbytes, buf.data()).ok()) << t.name;
  }
}

}  // namespace
}  // namespace omnisage

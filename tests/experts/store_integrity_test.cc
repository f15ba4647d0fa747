// An expert store at run time: a corrupt expert file (one flipped byte), an edited manifest
// offset, a header that disagrees with the manifest and a config.json that disagrees with the
// manifest's are errors that name the file, the expert and what differs, instead of different
// tokens; verify_checksums = false reads the bytes as they are.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "experts/extract.h"
#include "experts/store.h"
#include "generated_model.h"
#include "model/synth.h"
#include "model/text_model.h"
#include "source_paths.h"
#include "util/json_fields.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class StoreIntegrityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_integrity_"));
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel(*dir_ + "/model").ok());
    ExtractOptions e;
    e.model = *dir_ + "/model";
    e.out = *dir_ + "/pristine";
    e.progress = false;
    ASSERT_TRUE(ExtractStore(e).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  // A fresh copy of the store for this test.
  void SetUp() override {
    store_ = *dir_ + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(store_);
    fs::copy(*dir_ + "/pristine", store_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(store_); }

  std::string StorePath(const std::string& rel) const { return store_ + "/" + rel; }

  static void FlipByte(const std::string& path, uint64_t from_end) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto pos = static_cast<std::streamoff>(fs::file_size(path) - from_end);
    f.seekg(pos);
    const char c = static_cast<char>(f.get());
    f.seekp(pos);
    f.put(static_cast<char>(c ^ 0x01));
  }

  nlohmann::json ReadJson(const std::string& rel) const {
    std::ifstream in(StorePath(rel));
    return nlohmann::json::parse(in);
  }
  void WriteJson(const std::string& rel, const nlohmann::json& j) const {
    std::ofstream(StorePath(rel)) << j.dump(1);
  }

  // The manifest's record of `rel`.
  static nlohmann::json& Record(nlohmann::json& manifest, const std::string& rel) {
    for (auto& f : manifest["files"]) {
      if (f["path"] == rel) return f;
    }
    ADD_FAILURE() << rel << " is not in the manifest";
    return manifest;
  }

  // Runs a 16-token prompt through the model; returns the error, if any.
  static Status RunModel(const WeightSource& source, ExpertProvider* experts) {
    auto config = LoadModelConfig(source.config_path());
    if (!config.ok()) return config.status();
    auto model = TextModel::Load(source, *config, experts);
    if (!model.ok()) return model.status();
    ThreadPool pool(1);
    KvCache cache = (*model)->NewCache(32);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 16; ++i) prompt.push_back(i * 37 + 5);
    std::vector<float> logits((*model)->vocab_size());
    return (*model)->Forward(prompt.data(), static_cast<int64_t>(prompt.size()), &cache, false,
                             logits.data(), &pool);
  }

  static StatusOr<std::unique_ptr<CachedExperts>> NewCached(const WeightSource& source,
                                                            bool verify) {
    auto config = LoadModelConfig(source.config_path());
    if (!config.ok()) return config.status();
    return CachedExperts::Create(source, "thinker.model.", Component::kThinker, config->text,
                                 {.budget_bytes = CachedExperts::TotalExpertBytes(config->text),
                                  .io_threads = 1,
                                  .verify_checksums = verify});
  }

  static std::string* dir_;
  std::string store_;
};
std::string* StoreIntegrityTest::dir_ = nullptr;

TEST_F(StoreIntegrityTest, FlippedByteInAnExpertNamesTheFileTheExpertAndBothHashes) {
  // Every expert of thinker layer 0, so whichever the router picks is corrupt.
  for (int e = 0; e < 8; ++e) FlipByte(StorePath(ExpertFilePath(Component::kThinker, 0, e)), 7);
  nlohmann::json manifest = ReadJson(std::string(kManifestFileName));
  auto store = ExpertStore::Open(store_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  // Through the cache: the forward pass stops with the read's error.
  auto cached = NewCached(**store, /*verify=*/true);
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  Status s = RunModel(**store, cached->get());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("thinker layer 0 expert "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
  const size_t at = s.message().find("experts/thinker/layer_00/expert_00");
  ASSERT_NE(at, std::string::npos) << s.message();
  const std::string rel = s.message().substr(at, ExpertFilePath(Component::kThinker, 0, 0).size());
  const std::string recorded = Record(manifest, rel)["xxh3"];
  EXPECT_NE(s.message().find(recorded), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("computed from the bytes read"), std::string::npos) << s.message();

  // Every expert resident (no budget): loading stops at the first corrupt expert.
  Status resident = RunModel(**store, nullptr);
  ASSERT_FALSE(resident.ok());
  EXPECT_NE(resident.message().find("layer 0 expert 0: "), std::string::npos) << resident.message();
  EXPECT_NE(resident.message().find("checksum mismatch"), std::string::npos) << resident.message();

  // Without the check the bytes are used as they are.
  auto unchecked = NewCached(**store, /*verify=*/false);
  ASSERT_TRUE(unchecked.ok());
  EXPECT_TRUE(RunModel(**store, unchecked->get()).ok());
}

TEST_F(StoreIntegrityTest, IntactStoreRunsWithTheCheck) {
  auto store = ExpertStore::Open(store_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto cached = NewCached(**store, /*verify=*/true);
  ASSERT_TRUE(cached.ok());
  Status s = RunModel(**store, cached->get());
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(RunModel(**store, nullptr).ok());
}

TEST_F(StoreIntegrityTest, EditedManifestOffsetIsRefusedAtOpen) {
  const std::string rel = ExpertFilePath(Component::kThinker, 1, 2);
  nlohmann::json manifest = ReadJson(std::string(kManifestFileName));
  nlohmann::json& up = Record(manifest, rel)["tensors"][1];
  up["offset"] = up["offset"].get<uint64_t>() + 2;
  WriteJson(std::string(kManifestFileName), manifest);
  auto store = ExpertStore::Open(store_);
  ASSERT_FALSE(store.ok());
  const std::string& m = store.status().message();
  EXPECT_NE(m.find(std::string(kManifestFileName)), std::string::npos) << m;
  EXPECT_NE(m.find(rel), std::string::npos) << m;
  EXPECT_NE(m.find("starts at"), std::string::npos) << m;
}

// Offsets swapped between two tensors of one size still lie end to end and hash to the file's
// checksum; the file's own header tells them apart.
TEST_F(StoreIntegrityTest, SwappedOffsetsDisagreeWithTheFilesHeader) {
  const std::string rel = ExpertFilePath(Component::kThinker, 0, 1);
  nlohmann::json manifest = ReadJson(std::string(kManifestFileName));
  for (int e = 0; e < 8; ++e) {
    nlohmann::json& tensors =
        Record(manifest, ExpertFilePath(Component::kThinker, 0, e))["tensors"];
    std::swap(tensors[0]["offset"], tensors[1]["offset"]);  // gate and up: [inter, hidden] each
  }
  WriteJson(std::string(kManifestFileName), manifest);
  auto store = ExpertStore::Open(store_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto cached = NewCached(**store, /*verify=*/true);
  ASSERT_TRUE(cached.ok());
  Status s = RunModel(**store, cached->get());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("disagrees with manifest.json"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("in the file"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("experts/thinker/layer_00/expert_"), std::string::npos) << s.message();
}

TEST_F(StoreIntegrityTest, ConfigThatDisagreesWithTheManifestNamesBothFilesAndTheField) {
  nlohmann::json config = ReadJson("config.json");
  config["thinker_config"]["text_config"]["rms_norm_eps"] = 0.5;
  WriteJson("config.json", config);
  auto store = ExpertStore::Open(store_);
  ASSERT_FALSE(store.ok());
  const std::string& m = store.status().message();
  EXPECT_NE(m.find(StorePath("config.json")), std::string::npos) << m;
  EXPECT_NE(m.find(StorePath(std::string(kManifestFileName))), std::string::npos) << m;
  EXPECT_NE(m.find("thinker_config.text_config.rms_norm_eps: 0.5 vs"), std::string::npos) << m;
}

TEST_F(StoreIntegrityTest, ShapeMismatchSaysWhatWasFound) {
  nlohmann::json manifest = ReadJson(std::string(kManifestFileName));
  nlohmann::json& gate = Record(manifest, ExpertFilePath(Component::kThinker, 0, 0))["tensors"][0];
  const std::vector<int64_t> shape = gate["shape"];
  ASSERT_EQ(shape.size(), 2u);
  gate["shape"] = {shape[1], shape[0]};  // same bytes, transposed
  WriteJson(std::string(kManifestFileName), manifest);
  auto store = ExpertStore::Open(store_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status s = RunModel(**store, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fmt::format("experts.0.gate_proj.weight': expected BF16 [{}, {}], "
                                         "found BF16 [{}, {}]",
                                         shape[0], shape[1], shape[1], shape[0])),
            std::string::npos)
      << s.message();
}

TEST(FirstDifferenceTest, NamesThePathAndBothValues) {
  using nlohmann::json;
  EXPECT_FALSE(FirstDifference(json{{"a", 1}}, json{{"a", 1}}).has_value());
  EXPECT_EQ(*FirstDifference(json{{"a", {{"b", 1}}}}, json{{"a", {{"b", 2}}}}), "a.b: 1 vs 2");
  EXPECT_EQ(*FirstDifference(json{{"a", 1}}, json::object()), "a: 1 vs (absent)");
  EXPECT_EQ(*FirstDifference(json::object(), json{{"z", true}}), "z: (absent) vs true");
  EXPECT_EQ(*FirstDifference(json{{"l", {1, 2}}}, json{{"l", {1, 3}}}), "l.1: 2 vs 3");
  EXPECT_EQ(*FirstDifference(json{{"l", {1}}}, json{{"l", {1, 3}}}), "l: [1] vs [1,3]");
}

}  // namespace
}  // namespace omnisage

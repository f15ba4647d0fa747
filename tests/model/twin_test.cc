// The Qwen3-Omni twin of a Qwen3-MoE checkpoint (synth --thinker-from): its thinker holds the
// source's tensors byte for byte, computes the source's logits bit for bit on text, and bad
// sources are refused naming the file.
#include "model/twin.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "generated_model.h"
#include "io/checkpoint.h"
#include "io/weight_source.h"
#include "model/presets.h"
#include "model/synth.h"
#include "model/text_model.h"
#include "source_paths.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

std::string TokenizerDir() { return ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer"; }

class TwinTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_twin_"));
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = Arch::kQwen3Moe;
    o.seed = 11;
    o.out_dir = *root_ + "/source";
    o.tokenizer_dir = TokenizerDir();
    o.progress = false;
    ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
    o.arch = Arch::kQwen3OmniMoe;
    o.seed = 3;
    o.thinker_from = *root_ + "/source";
    o.out_dir = *root_ + "/twin";
    auto report = SynthesizeCheckpoint(o);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static std::string* root_;
};
std::string* TwinTest::root_ = nullptr;

TEST(TwinNames, ThinkerTextTensorsMapToTheSource) {
  EXPECT_EQ(TwinSourceName("thinker.model.embed_tokens.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(TwinSourceName("thinker.model.layers.3.mlp.experts.7.up_proj.weight"),
            "model.layers.3.mlp.experts.7.up_proj.weight");
  EXPECT_EQ(TwinSourceName("thinker.lm_head.weight"), "lm_head.weight");
  EXPECT_EQ(TwinSourceName("thinker.audio_tower.conv2d1.weight"), "");
  EXPECT_EQ(TwinSourceName("thinker.visual.blocks.0.attn.qkv.weight"), "");
  EXPECT_EQ(TwinSourceName("talker.model.layers.0.self_attn.q_proj.weight"), "");
  EXPECT_EQ(TwinSourceName("model.layers.0.self_attn.q_proj.weight"), "");
}

TEST(TwinConfigs, TextModelIsTheSourceAndInterfacesFollowItsWidth) {
  ModelConfig source = PresetConfig(Preset::kTiny, Arch::kQwen3Moe);
  source.text.hidden_size = 96;
  source.text.head_dim = 64;
  source.text.num_layers = 3;
  auto twin = TwinConfig(PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe), source, "src.json");
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  EXPECT_EQ(twin->arch, Arch::kQwen3OmniMoe);
  EXPECT_EQ(twin->text.hidden_size, 96);
  EXPECT_EQ(twin->text.num_layers, 3);
  EXPECT_EQ(twin->text.mrope_section, (std::vector<int64_t>{12, 10, 10}));
  EXPECT_EQ(twin->audio.output_dim, 96);
  EXPECT_EQ(twin->vision.out_hidden_size, 96);
  EXPECT_EQ(twin->talker.thinker_hidden_size, 96);

  auto omni_source =
      TwinConfig(PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe),
                 PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe), "omni/config.json");
  ASSERT_FALSE(omni_source.ok());
  EXPECT_NE(omni_source.status().message().find("omni/config.json: model_type"), std::string::npos)
      << omni_source.status().message();

  source.text.vocab_size = 8192;
  auto too_big = TwinConfig(PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe), source, "src.json");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("src.json: vocab_size"), std::string::npos);
}

TEST_F(TwinTest, ThinkerTensorsAreTheSourcesBytes) {
  auto src = Checkpoint::Open(*root_ + "/source");
  auto twin = Checkpoint::Open(*root_ + "/twin");
  ASSERT_TRUE(src.ok() && twin.ok());
  int copied = 0;
  for (const Checkpoint::Entry& e : (*twin)->tensors()) {
    const std::string from = TwinSourceName(e.info->name);
    if (from.empty()) continue;
    const Checkpoint::Entry* s = (*src)->Find(from);
    ASSERT_NE(s, nullptr) << from;
    std::vector<uint8_t> a(e.info->nbytes()), b(s->info->nbytes());
    ASSERT_EQ(a.size(), b.size()) << from;
    ASSERT_TRUE((*twin)->shards()[e.shard]->Read(*e.info, a.data()).ok());
    ASSERT_TRUE((*src)->shards()[s->shard]->Read(*s->info, b.data()).ok());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0) << e.info->name;
    ++copied;
  }
  // Every source tensor has its twin.
  EXPECT_EQ(copied, static_cast<int>((*src)->tensors().size()));
}

TEST_F(TwinTest, TextLogitsAreBitIdenticalToTheSource) {
  std::vector<std::vector<float>> logits;
  for (const char* name : {"/source", "/twin"}) {
    auto source = OpenCheckpointSource(*root_ + name);
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    auto config = LoadModelConfig((*source)->config_path());
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto model = TextModel::Load(**source, *config);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ThreadPool pool(2);
    KvCache cache = (*model)->NewCache(64);
    const std::vector<int32_t> prompt = {101, 7, 3999, 4001, 250, 9, 42, 871, 4002};
    std::vector<float> out(prompt.size() * (*model)->vocab_size());
    ASSERT_TRUE((*model)
                    ->Forward(prompt.data(), static_cast<int>(prompt.size()), &cache,
                              /*all_positions=*/true, out.data(), &pool)
                    .ok());
    int32_t token = 17;
    std::vector<float> step((*model)->vocab_size());
    ASSERT_TRUE((*model)->Forward(&token, 1, &cache, false, step.data(), &pool).ok());
    out.insert(out.end(), step.begin(), step.end());
    logits.push_back(std::move(out));
  }
  ASSERT_EQ(logits[0].size(), logits[1].size());
  EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)), 0);
}

TEST_F(TwinTest, TokenizerMismatchAndMissingTensorAreNamed) {
  // A source tokenizer that gives tokens other ids: the full Qwen3 vocabulary, whose special
  // tokens sit at 151643 and up where the tiny twin's sit at 4000 and up.
  const std::string full = TokenizerDir() + "/tokenizer.json";
  Status s = CheckTwinTokenizer(full, *root_ + "/twin/tokenizer.json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(full), std::string::npos) << s.message();
  EXPECT_TRUE(
      CheckTwinTokenizer(*root_ + "/source/tokenizer.json", *root_ + "/twin/tokenizer.json").ok());

  // A source without one of its tensors.
  const std::string partial = *root_ + "/partial";
  fs::create_directories(partial);
  for (const auto& f : fs::directory_iterator(*root_ + "/source")) {
    fs::copy(f.path(), partial / f.path().filename());
  }
  {  // config.json claims a layer more than the shards hold
    std::ifstream in(partial + "/config.json");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const std::string field = "\"num_hidden_layers\": 2";
    const size_t at = text.find(field);
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, field.size(), "\"num_hidden_layers\": 3");
    std::ofstream(partial + "/config.json") << text;
  }
  SynthOptions o;
  o.preset = Preset::kTiny;
  o.out_dir = *root_ + "/twin-partial";
  o.tokenizer_dir = TokenizerDir();
  o.progress = false;
  o.thinker_from = partial;
  auto r = SynthesizeCheckpoint(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(partial), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model.layers.2."), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace omnisage

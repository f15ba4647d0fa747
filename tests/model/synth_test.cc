#include "model/synth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/weight_source.h"
#include "model/config.h"
#include "model/inventory.h"
#include "model/presets.h"
#include "model/tensor_table.h"
#include "source_paths.h"
#include "tensor/bf16.h"

namespace omnisage {
namespace {

using nlohmann::json;
using Shape = std::vector<int64_t>;

constexpr uint64_t kSeed = 7;

std::string TokenizerDir() { return ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer"; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

json ReadJsonFile(const std::string& path) { return json::parse(ReadAll(path)); }

std::string ShardName(int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05d-of-%05d.safetensors", i, n);
  return buf;
}

// The generated checkpoints, made on first use and shared by the tests of this process.
enum class Variant { kBase, kSameSeed, kOtherSeed, kOneShard, kSparse, kFused, kQwen3Moe };

struct Generated {
  SynthOptions options;
  SynthReport report;
};

class SynthTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (!root_.empty()) std::filesystem::remove_all(root_);
    root_.clear();
    generated_.clear();
  }

  static SynthOptions OptionsFor(Variant v) {
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.arch = Arch::kQwen3OmniMoe;
    o.seed = kSeed;
    o.tokenizer_dir = TokenizerDir();
    o.progress = false;
    switch (v) {
      case Variant::kBase:
      case Variant::kSameSeed:
        break;
      case Variant::kOtherSeed:
        o.seed = kSeed + 1;
        break;
      case Variant::kOneShard:
        o.num_shards = 1;
        break;
      case Variant::kSparse:
        o.sparse = true;
        break;
      case Variant::kFused:
        o.layout = ExpertLayout::kFused;
        break;
      case Variant::kQwen3Moe:
        o.arch = Arch::kQwen3Moe;
        break;
    }
    return o;
  }

  // The checkpoint of variant `v`; generated on first use.
  // A fresh directory for this process's checkpoints, removed after the suite.
  static const std::string& Root() {
    if (root_.empty()) {
      std::string tmpl = ::testing::TempDir() + "omnisage_synth_test_XXXXXX";
      char* dir = ::mkdtemp(tmpl.data());
      EXPECT_NE(dir, nullptr) << tmpl;
      root_ = tmpl;
    }
    return root_;
  }

  static const Generated& Get(Variant v) {
    auto it = generated_.find(v);
    if (it != generated_.end()) return it->second;
    Generated g;
    g.options = OptionsFor(v);
    g.options.out_dir = Root() + "/ckpt" + std::to_string(static_cast<int>(v));
    StatusOr<SynthReport> report = SynthesizeCheckpoint(g.options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (report.ok()) g.report = *report;
    return generated_.emplace(v, std::move(g)).first->second;
  }
  static const std::string& Dir(Variant v) { return Get(v).options.out_dir; }

  static std::unique_ptr<Checkpoint> Open(Variant v) {
    StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(Dir(v));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static ModelConfig Config(Variant v) {
    StatusOr<ModelConfig> c = LoadModelConfig(Dir(v) + "/config.json");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : ModelConfig{};
  }

  static std::vector<uint16_t> Data(const Checkpoint& ckpt, const Checkpoint::Entry& e) {
    std::vector<uint16_t> v(e.info->numel);
    EXPECT_EQ(e.info->nbytes(), v.size() * sizeof(uint16_t)) << e.info->name;
    Status s = ckpt.shards()[e.shard]->Read(*e.info, v.data());
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }

  static std::string root_;
  static std::map<Variant, Generated> generated_;
};

std::string SynthTest::root_;
std::map<Variant, Generated> SynthTest::generated_;

// --- The files ---------------------------------------------------------------------------------

TEST_F(SynthTest, ReportMatchesTheTable) {
  const Generated& g = Get(Variant::kBase);
  const std::vector<TensorSpec> want =
      ModelTensors(PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe));
  uint64_t params = 0;
  for (const TensorSpec& t : want) params += t.numel();
  EXPECT_EQ(g.report.tensors, want.size());
  EXPECT_EQ(g.report.parameters, params);
  EXPECT_EQ(g.report.bytes, 2 * params);
  EXPECT_EQ(g.report.shards, 2);
}

TEST_F(SynthTest, WritesTheCheckpointFiles) {
  const std::string& dir = Dir(Variant::kBase);
  for (const std::string& f :
       {std::string("config.json"), std::string("model.safetensors.index.json"), ShardName(1, 2),
        ShardName(2, 2), std::string("tokenizer.json"), std::string("tokenizer_config.json")}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/" + f)) << f;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  // The processor's settings (spec §1.6), for the audio feature extractor.
  const json pre = ReadJsonFile(dir + "/preprocessor_config.json");
  EXPECT_EQ(pre["feature_extractor_type"], "WhisperFeatureExtractor");
  EXPECT_EQ(pre["feature_size"], Config(Variant::kBase).audio.num_mel_bins);
  EXPECT_EQ(pre["hop_length"], 160);
  EXPECT_EQ(pre["n_fft"], 400);
  EXPECT_EQ(pre["dither"], 0.0);
}

TEST_F(SynthTest, OpensAndMatchesTheTensorTable) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kBase);
  ASSERT_NE(ckpt, nullptr);
  EXPECT_EQ(ckpt->shards().size(), 2u);
  EXPECT_FALSE(ckpt->config_path().empty());
  const ModelConfig config = Config(Variant::kBase);
  EXPECT_EQ(config.arch, Arch::kQwen3OmniMoe);
  EXPECT_EQ(config.text.num_experts, 8);
  const std::vector<TensorSpec> want = ModelTensors(config);
  ASSERT_EQ(ckpt->tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const TensorInfo& t = *ckpt->tensors()[i].info;
    EXPECT_EQ(t.name, want[i].name) << i;
    EXPECT_EQ(t.shape, want[i].shape) << want[i].name;
    EXPECT_EQ(t.dtype, DType::kBF16) << t.name;
    EXPECT_EQ(t.numel, want[i].numel()) << t.name;
  }
  // Both shards hold tensors.
  std::set<int> shards;
  for (const Checkpoint::Entry& e : ckpt->tensors()) shards.insert(e.shard);
  EXPECT_EQ(shards, (std::set<int>{0, 1}));
}

TEST_F(SynthTest, IndexNamesEveryTensorAndItsShard) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kBase);
  ASSERT_NE(ckpt, nullptr);
  const json index = ReadJsonFile(Dir(Variant::kBase) + "/model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), Get(Variant::kBase).report.bytes);
  const json& map = index["weight_map"];
  EXPECT_EQ(map.size(), ckpt->tensors().size());
  for (const Checkpoint::Entry& e : ckpt->tensors()) {
    ASSERT_TRUE(map.contains(e.info->name)) << e.info->name;
    EXPECT_EQ(map[e.info->name].get<std::string>(), ShardName(e.shard + 1, 2)) << e.info->name;
  }
}

TEST_F(SynthTest, ConfigIsThePresets) {
  const ModelConfig got = Config(Variant::kBase);
  const ModelConfig want = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  EXPECT_EQ(got.model_type, "qwen3_omni_moe");
  EXPECT_EQ(got.text.hidden_size, want.text.hidden_size);
  EXPECT_EQ(got.text.num_layers, want.text.num_layers);
  EXPECT_EQ(got.talker.text.num_experts, want.talker.text.num_experts);
  EXPECT_EQ(got.talker.text.shared_expert_intermediate_size,
            want.talker.text.shared_expert_intermediate_size);
  EXPECT_EQ(got.code2wav.decoder_dim, want.code2wav.decoder_dim);
  EXPECT_EQ(got.tokens.audio_token, want.tokens.audio_token);
}

TEST_F(SynthTest, Qwen3MoeArch) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kQwen3Moe);
  ASSERT_NE(ckpt, nullptr);
  const ModelConfig config = Config(Variant::kQwen3Moe);
  EXPECT_EQ(config.arch, Arch::kQwen3Moe);
  const std::vector<TensorSpec> want = ModelTensors(config);
  ASSERT_EQ(ckpt->tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ckpt->tensors()[i].info->name, want[i].name);
    EXPECT_EQ(ckpt->tensors()[i].info->shape, want[i].shape);
  }
  // No Qwen3-Omni tokens are added for plain Qwen3-MoE.
  const json tok = ReadJsonFile(Dir(Variant::kQwen3Moe) + "/tokenizer.json");
  EXPECT_EQ(tok["added_tokens"].size(), 26u);
  EXPECT_FALSE(std::filesystem::exists(Dir(Variant::kQwen3Moe) + "/preprocessor_config.json"));
}

// --- Determinism -------------------------------------------------------------------------------

TEST_F(SynthTest, SameSeedGivesIdenticalFiles) {
  for (const std::string& f :
       {ShardName(1, 2), ShardName(2, 2), std::string("config.json"),
        std::string("model.safetensors.index.json"), std::string("tokenizer.json"),
        std::string("tokenizer_config.json")}) {
    const std::string a = ReadAll(Dir(Variant::kBase) + "/" + f);
    const std::string b = ReadAll(Dir(Variant::kSameSeed) + "/" + f);
    EXPECT_FALSE(a.empty()) << f;
    EXPECT_TRUE(a == b) << f << " differs between two runs with the same seed";
  }
}

TEST_F(SynthTest, OtherSeedGivesOtherWeights) {
  for (const std::string& f : {ShardName(1, 2), ShardName(2, 2)}) {
    const std::string a = ReadAll(Dir(Variant::kBase) + "/" + f);
    const std::string b = ReadAll(Dir(Variant::kOtherSeed) + "/" + f);
    EXPECT_EQ(a.size(), b.size()) << f;
    EXPECT_TRUE(a != b) << f << " is the same for two seeds";
  }
  EXPECT_EQ(ReadAll(Dir(Variant::kBase) + "/config.json"),
            ReadAll(Dir(Variant::kOtherSeed) + "/config.json"));
  // Every tensor differs, not just some.
  std::unique_ptr<Checkpoint> a = Open(Variant::kBase);
  std::unique_ptr<Checkpoint> b = Open(Variant::kOtherSeed);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const TensorInfo& t = *a->tensors()[i].info;
    if (t.numel < 16) continue;
    EXPECT_NE(Data(*a, a->tensors()[i]), Data(*b, b->tensors()[i])) << t.name;
  }
}

TEST_F(SynthTest, TensorDataDoesNotDependOnTheShardLayout) {
  std::unique_ptr<Checkpoint> two = Open(Variant::kBase);
  std::unique_ptr<Checkpoint> one = Open(Variant::kOneShard);
  ASSERT_NE(two, nullptr);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->shards().size(), 1u);
  EXPECT_EQ(Get(Variant::kOneShard).report.shards, 1);
  ASSERT_EQ(one->tensors().size(), two->tensors().size());
  for (const Checkpoint::Entry& e : one->tensors()) {
    const Checkpoint::Entry* f = two->Find(e.info->name);
    ASSERT_NE(f, nullptr) << e.info->name;
    EXPECT_EQ(Data(*one, e), Data(*two, *f)) << e.info->name;
  }
}

TEST_F(SynthTest, DataIsGenerateBf16) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kBase);
  ASSERT_NE(ckpt, nullptr);
  const std::vector<TensorSpec> specs = ModelTensors(Config(Variant::kBase));
  ASSERT_EQ(specs.size(), ckpt->tensors().size());
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<uint16_t> want(specs[i].numel());
    GenerateBf16(specs[i], kSeed, 0, want.size(), want.data());
    EXPECT_EQ(Data(*ckpt, ckpt->tensors()[i]), want) << specs[i].name;
  }
}

TEST(GenerateBf16Test, ChunksContinueTheStream) {
  TensorSpec spec{.name = "thinker.model.layers.0.self_attn.q_proj.weight",
                  .shape = {64, 64},
                  .init = Init::kLinear,
                  .fan_in = 64};
  std::vector<uint16_t> whole(4096);
  GenerateBf16(spec, 3, 0, whole.size(), whole.data());
  // Odd offsets and lengths: each generator call yields two values.
  for (uint64_t first : {0u, 1u, 17u, 1000u, 4095u}) {
    for (uint64_t n : {1u, 2u, 3u, 333u}) {
      if (first + n > whole.size()) continue;
      std::vector<uint16_t> part(n);
      GenerateBf16(spec, 3, first, n, part.data());
      EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + first)) << first << "+" << n;
    }
  }
}

TEST(GenerateBf16Test, DependsOnNameAndSeedOnly) {
  TensorSpec a{.name = "x.weight", .shape = {256}, .init = Init::kLinear, .fan_in = 256};
  TensorSpec b = a;
  b.shape = {16, 16};  // same name, fan_in and init: same stream
  TensorSpec c = a;
  c.name = "y.weight";
  std::vector<uint16_t> va(256), vb(256), vc(256), vd(256);
  GenerateBf16(a, 1, 0, 256, va.data());
  GenerateBf16(b, 1, 0, 256, vb.data());
  GenerateBf16(c, 1, 0, 256, vc.data());
  GenerateBf16(a, 2, 0, 256, vd.data());
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_NE(va, vd);
}

// --- Values ------------------------------------------------------------------------------------

struct Range {
  double center;
  double half_width;
};

// The documented distribution of each initialiser (synth.h).
Range ExpectedRange(const TensorSpec& t) {
  const double linear = std::sqrt(3.0 / static_cast<double>(t.fan_in));
  switch (t.init) {
    case Init::kLinear:
      return {0, linear};
    case Init::kRouter:
      return {0, 2 * linear};
    case Init::kEmbedding:
      return {0, std::sqrt(3.0)};
    case Init::kNormWeight:
      return {1.0, 0.1};
    case Init::kBias:
      return {0, 0.02};
    case Init::kLayerScale:
      return {0.1, 0.01};
    case Init::kLogScale:
      return {0, 0.1};
  }
  return {0, 0};
}

TEST_F(SynthTest, ValuesAreFiniteAndInRange) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kBase);
  ASSERT_NE(ckpt, nullptr);
  const std::vector<TensorSpec> specs = ModelTensors(Config(Variant::kBase));
  ASSERT_EQ(specs.size(), ckpt->tensors().size());
  int norms = 0, linears = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    const Range r = ExpectedRange(spec);
    const std::vector<uint16_t> data = Data(*ckpt, ckpt->tensors()[i]);
    // bf16 keeps 8 significant bits: rounding may move a value by 2^-8 of its magnitude.
    const double lo = r.center - r.half_width, hi = r.center + r.half_width;
    const double lo_ok = lo - std::abs(lo) / 256, hi_ok = hi + std::abs(hi) / 256;
    double min = INFINITY, max = -INFINITY, sum = 0;
    bool finite = true;
    for (uint16_t h : data) {
      const double x = Bf16ToFloat(h);
      finite = finite && std::isfinite(x);
      min = std::min(min, x);
      max = std::max(max, x);
      sum += x;
    }
    ASSERT_TRUE(finite) << spec.name;
    EXPECT_GE(min, lo_ok) << spec.name;
    EXPECT_LE(max, hi_ok) << spec.name;
    if (spec.init == Init::kNormWeight) {
      ++norms;
      EXPECT_GE(min, 0.9 - 0.9 / 256) << spec.name;
      EXPECT_LE(max, 1.1 + 1.1 / 256) << spec.name;
    }
    if (spec.init == Init::kLinear) ++linears;
    // Uniform over the whole range, not a constant: with 256 or more samples, both outer quarters
    // of the range are hit (the chance of missing one is below 2 x 0.75^256).
    if (data.size() >= 256) {
      EXPECT_LT(min, r.center - r.half_width / 2) << spec.name;
      EXPECT_GT(max, r.center + r.half_width / 2) << spec.name;
    }
    // Centred: the mean is within 6 standard errors of the centre.
    if (data.size() >= 1024) {
      const double mean = sum / static_cast<double>(data.size());
      const double stderr_mean = r.half_width / std::sqrt(3.0 * static_cast<double>(data.size()));
      EXPECT_NEAR(mean, r.center, 6 * stderr_mean) << spec.name;
    }
  }
  EXPECT_GT(norms, 10);
  EXPECT_GT(linears, 100);
}

TEST_F(SynthTest, LinearWeightsScaleWithFanIn) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kBase);
  ASSERT_NE(ckpt, nullptr);
  // q_proj [64, 64]: bound sqrt(3/64); o_proj [64, 64] too; down_proj of an expert [64, 32]:
  // sqrt(3/32); fc2 of the audio tower [32, 64]: sqrt(3/64).
  auto max_abs = [&](const std::string& name) {
    const Checkpoint::Entry* e = ckpt->Find(name);
    EXPECT_NE(e, nullptr) << name;
    if (e == nullptr) return 0.0;
    double m = 0;
    for (uint16_t h : Data(*ckpt, *e)) m = std::max(m, std::abs(double{Bf16ToFloat(h)}));
    return m;
  };
  const double q = max_abs("thinker.model.layers.0.self_attn.q_proj.weight");
  const double down = max_abs("thinker.model.layers.0.mlp.experts.3.down_proj.weight");
  EXPECT_LE(q, std::sqrt(3.0 / 64) * (1 + 1.0 / 256));
  EXPECT_GT(q, std::sqrt(3.0 / 64) * 0.9);
  EXPECT_LE(down, std::sqrt(3.0 / 32) * (1 + 1.0 / 256));
  EXPECT_GT(down, std::sqrt(3.0 / 32) * 0.9);
}

// --- Sparse ------------------------------------------------------------------------------------

TEST_F(SynthTest, SparseHasTheSameHeadersAndZeroData) {
  for (const std::string& f : {ShardName(1, 2), ShardName(2, 2)}) {
    const std::string dense = ReadAll(Dir(Variant::kBase) + "/" + f);
    const std::string sparse = ReadAll(Dir(Variant::kSparse) + "/" + f);
    ASSERT_EQ(dense.size(), sparse.size()) << f;
    ASSERT_GE(dense.size(), 8u);
    uint64_t header_len = 0;
    std::memcpy(&header_len, dense.data(), 8);  // little-endian host
    ASSERT_LE(8 + header_len, dense.size());
    EXPECT_EQ(dense.substr(0, 8 + header_len), sparse.substr(0, 8 + header_len)) << f;
    const std::string data = sparse.substr(8 + header_len);
    EXPECT_EQ(data.find_first_not_of('\0'), std::string::npos) << f << ": nonzero data";
    EXPECT_NE(dense.substr(8 + header_len).find_first_not_of('\0'), std::string::npos) << f;
  }
  EXPECT_EQ(ReadAll(Dir(Variant::kBase) + "/model.safetensors.index.json"),
            ReadAll(Dir(Variant::kSparse) + "/model.safetensors.index.json"));
  EXPECT_EQ(ReadAll(Dir(Variant::kBase) + "/config.json"),
            ReadAll(Dir(Variant::kSparse) + "/config.json"));
  const Generated& d = Get(Variant::kBase);
  const Generated& s = Get(Variant::kSparse);
  EXPECT_EQ(s.report.tensors, d.report.tensors);
  EXPECT_EQ(s.report.parameters, d.report.parameters);
  EXPECT_EQ(s.report.bytes, d.report.bytes);

  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kSparse);
  ASSERT_NE(ckpt, nullptr);
  for (const Checkpoint::Entry& e : ckpt->tensors()) {
    for (uint16_t h : Data(*ckpt, e)) {
      ASSERT_EQ(h, 0) << e.info->name;
    }
  }
}

// --- Tokenizer ---------------------------------------------------------------------------------

TEST_F(SynthTest, TinyTokenizer) {
  const json tok = ReadJsonFile(Dir(Variant::kBase) + "/tokenizer.json");
  const json& vocab = tok["model"]["vocab"];
  ASSERT_TRUE(vocab.is_object());
  EXPECT_EQ(vocab.size(), static_cast<size_t>(kTinyBpeTokens));
  std::set<int64_t> ids;
  for (const auto& [token, id] : vocab.items()) {
    EXPECT_GE(id.get<int64_t>(), 0) << token;
    EXPECT_LT(id.get<int64_t>(), kTinyBpeTokens) << token;
    ids.insert(id.get<int64_t>());
  }
  EXPECT_EQ(ids.size(), vocab.size());
  EXPECT_EQ(tok["model"]["merges"].size(), static_cast<size_t>(kTinyBpeTokens - 256));

  // The 26 Qwen3 added tokens and the 7 Qwen3-Omni ones, renumbered to follow the BPE.
  const json& added = tok["added_tokens"];
  ASSERT_EQ(added.size(), 33u);
  for (size_t i = 0; i < added.size(); ++i) {
    EXPECT_EQ(added[i]["id"].get<int64_t>(), kTinyBpeTokens + static_cast<int64_t>(i));
  }
  std::map<int64_t, std::string> content;
  for (const json& a : added) content[a["id"].get<int64_t>()] = a["content"].get<std::string>();
  EXPECT_EQ(content[4000], "<|endoftext|>");
  EXPECT_EQ(content[4001], "<|im_start|>");
  EXPECT_EQ(content[4002], "<|im_end|>");
  EXPECT_EQ(content[4012], "<|image_pad|>");
  EXPECT_EQ(content[4025], "</think>");
  EXPECT_EQ(content[4026], "<|audio_start|>");
  EXPECT_EQ(content[4027], "<|audio_end|>");
  EXPECT_EQ(content[4028], "<tts_pad>");
  EXPECT_EQ(content[4032], "<|audio_pad|>");

  // The config's token ids name the same tokens, and all fit the thinker vocabulary.
  const ModelConfig config = Config(Variant::kBase);
  EXPECT_EQ(content[config.tokens.im_start], "<|im_start|>");
  EXPECT_EQ(content[config.tokens.im_end], "<|im_end|>");
  EXPECT_EQ(content[config.tokens.audio_token], "<|audio_pad|>");
  EXPECT_EQ(content[config.tokens.image_token], "<|image_pad|>");
  EXPECT_EQ(content[config.tokens.video_token], "<|video_pad|>");
  EXPECT_EQ(content[config.tokens.audio_start], "<|audio_start|>");
  EXPECT_EQ(content[config.tokens.vision_start], "<|vision_start|>");
  EXPECT_EQ(content[config.tokens.tts_pad], "<tts_pad>");
  EXPECT_LE(kTinyBpeTokens + 33, config.text.vocab_size);

  const json cfg = ReadJsonFile(Dir(Variant::kBase) + "/tokenizer_config.json");
  const json& decoder = cfg["added_tokens_decoder"];
  ASSERT_EQ(decoder.size(), 33u);
  for (int64_t id = 4000; id <= 4032; ++id) {
    ASSERT_TRUE(decoder.contains(std::to_string(id))) << id;
    EXPECT_EQ(decoder[std::to_string(id)]["content"].get<std::string>(), content[id]) << id;
  }
}

TEST_F(SynthTest, TokenizerRejectsAMissingSource) {
  SynthOptions o = OptionsFor(Variant::kBase);
  o.out_dir = Root() + "/bad";
  o.tokenizer_dir = Root() + "/no-such-tokenizer";
  StatusOr<SynthReport> r = SynthesizeCheckpoint(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-tokenizer"), std::string::npos)
      << r.status().message();
}

// --- Fused layout ------------------------------------------------------------------------------

TEST_F(SynthTest, FusedLayout) {
  std::unique_ptr<Checkpoint> ckpt = Open(Variant::kFused);
  ASSERT_NE(ckpt, nullptr);
  const ModelConfig config = Config(Variant::kFused);
  const std::vector<TensorSpec> want = ModelTensors(config, ExpertLayout::kFused);
  ASSERT_EQ(ckpt->tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ckpt->tensors()[i].info->name, want[i].name);
    EXPECT_EQ(ckpt->tensors()[i].info->shape, want[i].shape) << want[i].name;
  }
  // Tiny: 8 experts, hidden 64, expert width 32 (thinker); hidden 32, width 16 (talker).
  const std::vector<std::pair<std::string, Shape>> fused = {
      {"thinker.model.layers.0.mlp.experts.gate_up_proj", {8, 64, 64}},
      {"thinker.model.layers.1.mlp.experts.down_proj", {8, 64, 32}},
      {"talker.model.layers.0.mlp.experts.gate_up_proj", {8, 32, 32}},
      {"talker.model.layers.1.mlp.experts.down_proj", {8, 32, 16}},
  };
  for (const auto& [name, shape] : fused) {
    const Checkpoint::Entry* e = ckpt->Find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->info->shape, shape) << name;
    EXPECT_TRUE(ClassifyTensor(name).fused()) << name;
  }
  for (const Checkpoint::Entry& e : ckpt->tensors()) {
    const TensorKind k = ClassifyTensor(e.info->name);
    EXPECT_FALSE(k.role == TensorRole::kExpert && !k.fused()) << e.info->name;
  }
  EXPECT_EQ(Get(Variant::kFused).report.parameters, Get(Variant::kBase).report.parameters);
}

TEST_F(SynthTest, FusedDataIsThePerExpertDataEndToEnd) {
  std::unique_ptr<Checkpoint> fused = Open(Variant::kFused);
  std::unique_ptr<Checkpoint> per = Open(Variant::kBase);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(per, nullptr);
  int checked = 0;
  for (const Checkpoint::Entry& e : fused->tensors()) {
    const TensorKind k = ClassifyTensor(e.info->name);
    if (!k.fused()) {
      const Checkpoint::Entry* p = per->Find(e.info->name);
      ASSERT_NE(p, nullptr) << e.info->name;
      EXPECT_EQ(Data(*fused, e), Data(*per, *p)) << e.info->name;
      continue;
    }
    const std::string prefix = e.info->name.substr(0, e.info->name.rfind('.') + 1);
    std::vector<uint16_t> want;
    for (int64_t x = 0; x < e.info->shape[0]; ++x) {
      const std::vector<std::string> projs = k.proj == ExpertProj::kGateUp
                                                 ? std::vector<std::string>{"gate_proj", "up_proj"}
                                                 : std::vector<std::string>{"down_proj"};
      for (const std::string& proj : projs) {
        const std::string name = prefix + std::to_string(x) + "." + proj + ".weight";
        const Checkpoint::Entry* p = per->Find(name);
        ASSERT_NE(p, nullptr) << name;
        const std::vector<uint16_t> part = Data(*per, *p);
        want.insert(want.end(), part.begin(), part.end());
      }
    }
    EXPECT_EQ(Data(*fused, e), want) << e.info->name;
    ++checked;
  }
  EXPECT_EQ(checked, 8);  // 2 layers x 2 tensors x (thinker, talker)
}

// --- Inventory and memory plans ----------------------------------------------------------------

class InventoryTest : public SynthTest {
 protected:
  static Inventory Take(Variant v, bool with_config = true) {
    StatusOr<std::unique_ptr<WeightSource>> source = OpenCheckpointSource(Dir(v));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    if (!source.ok()) return {};
    const ModelConfig config = Config(v);
    return TakeInventory(**source, with_config ? &config : nullptr);
  }
};

// Tiny: thinker experts 3 x [32, 64] = 6144 parameters; talker 3 x [16, 32] = 1536.
constexpr uint64_t kThinkerExpertParams = 3 * 32 * 64;
constexpr uint64_t kTalkerExpertParams = 3 * 16 * 32;

TEST_F(InventoryTest, Totals) {
  const Inventory inv = Take(Variant::kBase);
  const Generated& g = Get(Variant::kBase);
  EXPECT_EQ(inv.path, Dir(Variant::kBase));
  EXPECT_EQ(inv.model_type, "qwen3_omni_moe");
  ASSERT_TRUE(inv.config.has_value());
  EXPECT_EQ(inv.shards, 2);
  EXPECT_EQ(inv.tensors, g.report.tensors);
  EXPECT_EQ(inv.parameters, g.report.parameters);
  EXPECT_EQ(inv.bytes, g.report.bytes);
  EXPECT_EQ(inv.expert_bytes + inv.dense_bytes, inv.bytes);
  ASSERT_EQ(inv.dtypes.size(), 1u);
  EXPECT_EQ(inv.dtypes[0].first, "BF16");
  EXPECT_EQ(inv.dtypes[0].second, inv.tensors);
}

TEST_F(InventoryTest, Components) {
  const Inventory inv = Take(Variant::kBase);
  std::vector<Component> names;
  uint64_t tensors = 0, params = 0, bytes = 0;
  for (const ComponentStats& c : inv.components) {
    names.push_back(c.component);
    tensors += c.tensors;
    params += c.parameters;
    bytes += c.bytes;
    EXPECT_GT(c.tensors, 0u);
    EXPECT_EQ(c.bytes, 2 * c.parameters);
    EXPECT_FALSE(c.shards.empty());
    EXPECT_TRUE(std::is_sorted(c.shards.begin(), c.shards.end()));
  }
  EXPECT_EQ(names, (std::vector<Component>{Component::kThinker, Component::kAudioTower,
                                           Component::kVision, Component::kTalker,
                                           Component::kCodePredictor, Component::kCode2Wav}));
  EXPECT_EQ(tensors, inv.tensors);
  EXPECT_EQ(params, inv.parameters);
  EXPECT_EQ(bytes, inv.bytes);
}

TEST_F(InventoryTest, MoeStacks) {
  const Inventory inv = Take(Variant::kBase);
  ASSERT_EQ(inv.moe_stacks.size(), 2u);
  const MoeStackStats& thinker = inv.moe_stacks[0];
  const MoeStackStats& talker = inv.moe_stacks[1];
  EXPECT_EQ(thinker.component, Component::kThinker);
  EXPECT_EQ(talker.component, Component::kTalker);
  uint64_t expert_bytes = 0;
  for (const MoeStackStats* m : {&thinker, &talker}) {
    SCOPED_TRACE(ComponentName(m->component));
    EXPECT_EQ(m->moe_layers, 2);
    EXPECT_EQ(m->experts_per_layer, 8);
    EXPECT_EQ(m->active_per_token, 2);
    EXPECT_FALSE(m->fused);
    EXPECT_EQ(m->bytes_per_expert, 2 * m->params_per_expert);
    EXPECT_EQ(m->expert_bytes, 2u * 8 * m->bytes_per_expert);
    expert_bytes += m->expert_bytes;
  }
  EXPECT_EQ(thinker.params_per_expert, kThinkerExpertParams);
  EXPECT_EQ(talker.params_per_expert, kTalkerExpertParams);
  EXPECT_EQ(thinker.router_bytes, 2u * 8 * 64 * 2);  // 2 layers x [8, 64] bf16
  EXPECT_EQ(talker.router_bytes, 2u * 8 * 32 * 2);
  EXPECT_EQ(inv.expert_bytes, expert_bytes);
  // The stack's dense bytes are its component's bytes that are not routed experts.
  for (const MoeStackStats* m : {&thinker, &talker}) {
    for (const ComponentStats& c : inv.components) {
      if (c.component == m->component) {
        EXPECT_EQ(m->dense_bytes, c.bytes - m->expert_bytes);
      }
    }
  }
  // One token's 2 active experts of the largest stack.
  EXPECT_EQ(inv.min_budget_bytes, 2 * thinker.bytes_per_expert);
}

TEST_F(InventoryTest, WithoutConfig) {
  const Inventory inv = Take(Variant::kBase, /*with_config=*/false);
  EXPECT_FALSE(inv.config.has_value());
  EXPECT_EQ(inv.model_type, "");
  ASSERT_EQ(inv.moe_stacks.size(), 2u);
  EXPECT_EQ(inv.moe_stacks[0].active_per_token, 0);
  EXPECT_EQ(inv.moe_stacks[0].experts_per_layer, 8);
  EXPECT_EQ(inv.moe_stacks[0].params_per_expert, kThinkerExpertParams);
}

TEST_F(InventoryTest, FusedCheckpointHasTheSameStacks) {
  const Inventory per = Take(Variant::kBase);
  const Inventory fused = Take(Variant::kFused);
  EXPECT_EQ(fused.parameters, per.parameters);
  EXPECT_EQ(fused.bytes, per.bytes);
  EXPECT_EQ(fused.expert_bytes, per.expert_bytes);
  EXPECT_EQ(fused.dense_bytes, per.dense_bytes);
  EXPECT_EQ(fused.min_budget_bytes, per.min_budget_bytes);
  ASSERT_EQ(fused.moe_stacks.size(), per.moe_stacks.size());
  for (size_t i = 0; i < fused.moe_stacks.size(); ++i) {
    const MoeStackStats &f = fused.moe_stacks[i], &p = per.moe_stacks[i];
    SCOPED_TRACE(ComponentName(f.component));
    EXPECT_TRUE(f.fused);
    EXPECT_EQ(f.component, p.component);
    EXPECT_EQ(f.moe_layers, p.moe_layers);
    EXPECT_EQ(f.experts_per_layer, p.experts_per_layer);
    EXPECT_EQ(f.params_per_expert, p.params_per_expert);
    EXPECT_EQ(f.bytes_per_expert, p.bytes_per_expert);
    EXPECT_EQ(f.expert_bytes, p.expert_bytes);
    EXPECT_EQ(f.router_bytes, p.router_bytes);
    EXPECT_EQ(f.dense_bytes, p.dense_bytes);
  }
}

TEST_F(InventoryTest, MemoryPlans) {
  const Inventory inv = Take(Variant::kBase);
  const std::vector<MemoryPlan> plans = MemoryPlans(inv);
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_EQ(plans[0].name, "all");
  EXPECT_EQ(plans[1].name, "WAKE");
  EXPECT_EQ(plans[2].name, "FOCUS");
  EXPECT_EQ(plans[3].name, "CRISIS");
  for (const MemoryPlan& p : plans) {
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.dense_bytes, inv.dense_bytes);
    EXPECT_EQ(p.total_bytes(), p.dense_bytes + p.expert_bytes);
    EXPECT_LE(p.expert_bytes, inv.expert_bytes);
    EXPECT_DOUBLE_EQ(p.reduction,
                     1.0 - static_cast<double>(p.total_bytes()) / static_cast<double>(inv.bytes));
  }
  EXPECT_EQ(plans[0].experts_per_layer, 8);
  EXPECT_EQ(plans[0].expert_bytes, inv.expert_bytes);
  EXPECT_EQ(plans[0].total_bytes(), inv.bytes);
  EXPECT_DOUBLE_EQ(plans[0].reduction, 0.0);

  // WAKE keeps 4 of each layer's 8 experts: half the expert bytes.
  const MemoryPlan& wake = plans[1];
  EXPECT_EQ(wake.experts_per_layer, 4);
  uint64_t want = 0;
  for (const MoeStackStats& m : inv.moe_stacks) want += m.moe_layers * 4 * m.bytes_per_expert;
  EXPECT_EQ(wake.expert_bytes, want);
  EXPECT_EQ(wake.expert_bytes * 2, inv.expert_bytes);
  EXPECT_GT(wake.reduction, 0.0);
  EXPECT_LT(wake.reduction, 1.0);

  // FOCUS (8) and CRISIS (16) cannot hold more than the 8 experts there are.
  EXPECT_EQ(plans[2].experts_per_layer, 8);
  EXPECT_EQ(plans[2].expert_bytes, inv.expert_bytes);
  EXPECT_EQ(plans[3].expert_bytes, inv.expert_bytes);
  EXPECT_DOUBLE_EQ(plans[3].reduction, 0.0);
}

TEST_F(InventoryTest, BudgetPlan) {
  const Inventory inv = Take(Variant::kBase);
  uint64_t slot = 0;  // one expert in every MoE layer of both stacks
  for (const MoeStackStats& m : inv.moe_stacks) slot += m.moe_layers * m.bytes_per_expert;
  ASSERT_GT(slot, 0u);
  for (uint64_t budget :
       {uint64_t{0}, inv.min_budget_bytes, slot, 3 * slot + 1, inv.expert_bytes / 2,
        inv.expert_bytes - 1, inv.expert_bytes, 10 * inv.expert_bytes}) {
    SCOPED_TRACE(budget);
    const std::vector<MemoryPlan> plans = MemoryPlans(inv, budget);
    ASSERT_EQ(plans.size(), 5u);
    const MemoryPlan& p = plans[4];
    EXPECT_EQ(p.name, "budget");
    EXPECT_LE(p.expert_bytes, inv.expert_bytes);
    EXPECT_LE(p.expert_bytes, budget);
    EXPECT_EQ(p.expert_bytes, std::min(budget, inv.expert_bytes));
    EXPECT_EQ(p.dense_bytes, inv.dense_bytes);
    EXPECT_EQ(p.total_bytes(), p.dense_bytes + p.expert_bytes);
    EXPECT_LE(p.experts_per_layer, 8);
    EXPECT_EQ(p.experts_per_layer,
              static_cast<int>(std::min<uint64_t>(8, std::min(budget, inv.expert_bytes) / slot)));
    EXPECT_GE(p.reduction, 0.0);
    EXPECT_DOUBLE_EQ(p.reduction,
                     1.0 - static_cast<double>(p.total_bytes()) / static_cast<double>(inv.bytes));
  }
  const std::vector<MemoryPlan> half = MemoryPlans(inv, inv.expert_bytes / 2);
  EXPECT_EQ(half[4].experts_per_layer, 4);
  EXPECT_EQ(half[4].total_bytes(), half[1].total_bytes());  // = WAKE
}

TEST_F(InventoryTest, Json) {
  const Inventory inv = Take(Variant::kBase);
  const std::vector<MemoryPlan> plans = MemoryPlans(inv, inv.expert_bytes / 2);
  const nlohmann::ordered_json j = InventoryToJson(inv, plans);
  for (const char* key :
       {"path", "model_type", "shards", "tensors", "parameters", "bytes", "expert_bytes",
        "dense_bytes", "min_budget_bytes", "dtypes", "components", "moe_stacks", "plans"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["tensors"].get<uint64_t>(), inv.tensors);
  EXPECT_EQ(j["parameters"].get<uint64_t>(), inv.parameters);
  EXPECT_EQ(j["model_type"].get<std::string>(), "qwen3_omni_moe");
  EXPECT_EQ(j["dtypes"]["BF16"].get<uint64_t>(), inv.tensors);
  ASSERT_EQ(j["moe_stacks"].size(), 2u);
  EXPECT_EQ(j["moe_stacks"][0]["component"].get<std::string>(), "thinker");
  EXPECT_EQ(j["moe_stacks"][0]["params_per_expert"].get<uint64_t>(), kThinkerExpertParams);
  EXPECT_EQ(j["moe_stacks"][1]["component"].get<std::string>(), "talker");
  EXPECT_EQ(j["moe_stacks"][1]["params_per_expert"].get<uint64_t>(), kTalkerExpertParams);
  EXPECT_EQ(j["moe_stacks"][1]["experts_per_layer"].get<int>(), 8);
  ASSERT_EQ(j["plans"].size(), plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    EXPECT_EQ(j["plans"][i]["name"].get<std::string>(), plans[i].name);
    EXPECT_EQ(j["plans"][i]["total_bytes"].get<uint64_t>(), plans[i].total_bytes());
    EXPECT_EQ(j["plans"][i]["experts_per_layer"].get<int>(), plans[i].experts_per_layer);
  }
  // Shards are reported 1-based.
  for (const auto& c : j["components"]) {
    for (const auto& s : c["shards"]) {
      EXPECT_GE(s.get<int>(), 1);
      EXPECT_LE(s.get<int>(), 2);
    }
  }
  // Round-trips through text.
  EXPECT_EQ(json::parse(j.dump())["plans"][1]["name"], "WAKE");
}

}  // namespace
}  // namespace omnisage

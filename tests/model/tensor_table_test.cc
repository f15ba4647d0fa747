#include "model/tensor_table.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/presets.h"

namespace omnisage {
namespace {

using Shape = std::vector<int64_t>;

std::map<std::string, const TensorSpec*> ByName(const std::vector<TensorSpec>& tensors) {
  std::map<std::string, const TensorSpec*> m;
  for (const TensorSpec& t : tensors) m[t.name] = &t;
  return m;
}

uint64_t Params(const std::vector<TensorSpec>& tensors) {
  uint64_t n = 0;
  for (const TensorSpec& t : tensors) n += t.numel();
  return n;
}

class FullOmniTableTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tensors_ =
        new std::vector<TensorSpec>(ModelTensors(PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe)));
    by_name_ = new std::map<std::string, const TensorSpec*>(ByName(*tensors_));
  }
  static void TearDownTestSuite() {
    delete by_name_;
    delete tensors_;
    by_name_ = nullptr;
    tensors_ = nullptr;
  }
  // The tensor called `name`; fails the test when absent.
  static const TensorSpec* Get(const std::string& name) {
    auto it = by_name_->find(name);
    EXPECT_NE(it, by_name_->end()) << name;
    return it == by_name_->end() ? nullptr : it->second;
  }

  static std::vector<TensorSpec>* tensors_;
  static std::map<std::string, const TensorSpec*>* by_name_;
};

std::vector<TensorSpec>* FullOmniTableTest::tensors_ = nullptr;
std::map<std::string, const TensorSpec*>* FullOmniTableTest::by_name_ = nullptr;

// Spec §3: 28,010 tensors, 35,259,818,545 parameters.
TEST_F(FullOmniTableTest, CountsMatchTheRealCheckpoint) {
  EXPECT_EQ(tensors_->size(), 28010u);
  EXPECT_EQ(Params(*tensors_), 35259818545u);
}

TEST_F(FullOmniTableTest, NoDuplicateNames) { EXPECT_EQ(by_name_->size(), tensors_->size()); }

TEST_F(FullOmniTableTest, EveryTensorIsBf16) {
  for (const TensorSpec& t : *tensors_) {
    ASSERT_EQ(t.dtype, DType::kBF16) << t.name;
    EXPECT_EQ(t.nbytes(), 2 * t.numel()) << t.name;
  }
  uint64_t bytes = 0;
  for (const TensorSpec& t : *tensors_) bytes += t.nbytes();
  EXPECT_EQ(bytes, 2 * 35259818545u);
}

// Spec §1.1: the thinker text stack alone is 30,532,646,912 parameters.
TEST_F(FullOmniTableTest, ThinkerTextParameters) {
  uint64_t n = 0;
  for (const TensorSpec& t : *tensors_) {
    if (t.name.starts_with("thinker.model.") || t.name.starts_with("thinker.lm_head")) {
      n += t.numel();
    }
  }
  EXPECT_EQ(n, 30532646912u);
}

TEST_F(FullOmniTableTest, OneThinkerExpert) {
  uint64_t n = 0;
  for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
    const TensorSpec* t =
        Get(std::string("thinker.model.layers.17.mlp.experts.93.") + proj + ".weight");
    ASSERT_NE(t, nullptr);
    n += t->numel();
  }
  EXPECT_EQ(n, 4718592u);  // 3 x 768 x 2048
}

TEST_F(FullOmniTableTest, ShapesAsInTheSpec) {
  const std::vector<std::pair<std::string, Shape>> cases = {
      // §3.1 thinker text.
      {"thinker.model.embed_tokens.weight", {152064, 2048}},
      {"thinker.model.layers.0.input_layernorm.weight", {2048}},
      {"thinker.model.layers.0.self_attn.q_proj.weight", {4096, 2048}},
      {"thinker.model.layers.0.self_attn.k_proj.weight", {512, 2048}},
      {"thinker.model.layers.0.self_attn.v_proj.weight", {512, 2048}},
      {"thinker.model.layers.0.self_attn.o_proj.weight", {2048, 4096}},
      {"thinker.model.layers.47.self_attn.q_norm.weight", {128}},
      {"thinker.model.layers.47.self_attn.k_norm.weight", {128}},
      {"thinker.model.layers.47.post_attention_layernorm.weight", {2048}},
      {"thinker.model.layers.47.mlp.gate.weight", {128, 2048}},
      {"thinker.model.layers.0.mlp.experts.0.gate_proj.weight", {768, 2048}},
      {"thinker.model.layers.0.mlp.experts.127.up_proj.weight", {768, 2048}},
      {"thinker.model.layers.47.mlp.experts.127.down_proj.weight", {2048, 768}},
      {"thinker.model.norm.weight", {2048}},
      {"thinker.lm_head.weight", {152064, 2048}},
      // §3.2 audio tower.
      {"thinker.audio_tower.conv2d1.weight", {480, 1, 3, 3}},
      {"thinker.audio_tower.conv2d1.bias", {480}},
      {"thinker.audio_tower.conv2d2.weight", {480, 480, 3, 3}},
      {"thinker.audio_tower.conv2d3.weight", {480, 480, 3, 3}},
      {"thinker.audio_tower.conv_out.weight", {1280, 7680}},
      {"thinker.audio_tower.layers.0.self_attn.q_proj.weight", {1280, 1280}},
      {"thinker.audio_tower.layers.31.self_attn.out_proj.bias", {1280}},
      {"thinker.audio_tower.layers.5.self_attn_layer_norm.weight", {1280}},
      {"thinker.audio_tower.layers.5.fc1.weight", {5120, 1280}},
      {"thinker.audio_tower.layers.5.fc1.bias", {5120}},
      {"thinker.audio_tower.layers.5.fc2.weight", {1280, 5120}},
      {"thinker.audio_tower.layers.5.final_layer_norm.bias", {1280}},
      {"thinker.audio_tower.ln_post.weight", {1280}},
      {"thinker.audio_tower.proj1.weight", {1280, 1280}},
      {"thinker.audio_tower.proj2.weight", {2048, 1280}},
      {"thinker.audio_tower.proj2.bias", {2048}},
      // §3.3 vision tower.
      {"thinker.visual.patch_embed.proj.weight", {1152, 3, 2, 16, 16}},
      {"thinker.visual.patch_embed.proj.bias", {1152}},
      {"thinker.visual.pos_embed.weight", {2304, 1152}},
      {"thinker.visual.blocks.0.norm1.weight", {1152}},
      {"thinker.visual.blocks.26.attn.qkv.weight", {3456, 1152}},
      {"thinker.visual.blocks.26.attn.qkv.bias", {3456}},
      {"thinker.visual.blocks.26.attn.proj.weight", {1152, 1152}},
      {"thinker.visual.blocks.13.norm2.bias", {1152}},
      {"thinker.visual.blocks.13.mlp.linear_fc1.weight", {4304, 1152}},
      {"thinker.visual.blocks.13.mlp.linear_fc2.weight", {1152, 4304}},
      {"thinker.visual.merger.ln_q.weight", {1152}},
      {"thinker.visual.merger.mlp.0.weight", {4608, 4608}},
      {"thinker.visual.merger.mlp.2.weight", {2048, 4608}},
      {"thinker.visual.merger.mlp.2.bias", {2048}},
      {"thinker.visual.merger_list.0.ln_q.weight", {4608}},
      {"thinker.visual.merger_list.2.mlp.0.weight", {4608, 4608}},
      {"thinker.visual.merger_list.2.mlp.2.weight", {2048, 4608}},
      // §3.4 talker.
      {"talker.model.codec_embedding.weight", {3072, 1024}},
      {"talker.model.layers.0.input_layernorm.weight", {1024}},
      {"talker.model.layers.0.self_attn.q_proj.weight", {2048, 1024}},
      {"talker.model.layers.0.self_attn.k_proj.weight", {256, 1024}},
      {"talker.model.layers.0.self_attn.v_proj.weight", {256, 1024}},
      {"talker.model.layers.0.self_attn.o_proj.weight", {1024, 2048}},
      {"talker.model.layers.19.self_attn.q_norm.weight", {128}},
      {"talker.model.layers.19.mlp.gate.weight", {128, 1024}},
      {"talker.model.layers.19.mlp.experts.127.gate_proj.weight", {384, 1024}},
      {"talker.model.layers.19.mlp.experts.0.up_proj.weight", {384, 1024}},
      {"talker.model.layers.19.mlp.experts.64.down_proj.weight", {1024, 384}},
      {"talker.model.layers.3.mlp.shared_expert.gate_proj.weight", {768, 1024}},
      {"talker.model.layers.3.mlp.shared_expert.up_proj.weight", {768, 1024}},
      {"talker.model.layers.3.mlp.shared_expert.down_proj.weight", {1024, 768}},
      {"talker.model.layers.3.mlp.shared_expert_gate.weight", {1, 1024}},
      {"talker.model.norm.weight", {1024}},
      {"talker.codec_head.weight", {3072, 1024}},
      {"talker.text_projection.linear_fc1.weight", {2048, 2048}},
      {"talker.text_projection.linear_fc1.bias", {2048}},
      {"talker.text_projection.linear_fc2.weight", {1024, 2048}},
      {"talker.hidden_projection.linear_fc1.weight", {2048, 2048}},
      {"talker.hidden_projection.linear_fc2.bias", {1024}},
      // §3.5 code predictor.
      {"talker.code_predictor.model.codec_embedding.0.weight", {2048, 1024}},
      {"talker.code_predictor.model.codec_embedding.14.weight", {2048, 1024}},
      {"talker.code_predictor.model.layers.0.self_attn.q_proj.weight", {2048, 1024}},
      {"talker.code_predictor.model.layers.4.self_attn.k_proj.weight", {1024, 1024}},
      {"talker.code_predictor.model.layers.4.self_attn.v_proj.weight", {1024, 1024}},
      {"talker.code_predictor.model.layers.4.self_attn.o_proj.weight", {1024, 2048}},
      {"talker.code_predictor.model.layers.2.self_attn.k_norm.weight", {128}},
      {"talker.code_predictor.model.layers.2.mlp.gate_proj.weight", {3072, 1024}},
      {"talker.code_predictor.model.layers.2.mlp.up_proj.weight", {3072, 1024}},
      {"talker.code_predictor.model.layers.2.mlp.down_proj.weight", {1024, 3072}},
      {"talker.code_predictor.model.norm.weight", {1024}},
      {"talker.code_predictor.lm_head.0.weight", {2048, 1024}},
      {"talker.code_predictor.lm_head.14.weight", {2048, 1024}},
      // §3.6 code2wav.
      {"code2wav.code_embedding.weight", {32768, 1024}},
      {"code2wav.pre_transformer.layers.0.self_attn.q_proj.weight", {1024, 1024}},
      {"code2wav.pre_transformer.layers.7.self_attn.o_proj.weight", {1024, 1024}},
      {"code2wav.pre_transformer.layers.7.mlp.gate_proj.weight", {3072, 1024}},
      {"code2wav.pre_transformer.layers.7.mlp.down_proj.weight", {1024, 3072}},
      {"code2wav.pre_transformer.layers.7.input_layernorm.weight", {1024}},
      {"code2wav.pre_transformer.layers.7.self_attn_layer_scale.scale", {1024}},
      {"code2wav.pre_transformer.layers.7.mlp_layer_scale.scale", {1024}},
      {"code2wav.pre_transformer.norm.weight", {1024}},
      {"code2wav.upsample.0.0.conv.weight", {1024, 1024, 2}},
      {"code2wav.upsample.1.0.conv.bias", {1024}},
      {"code2wav.upsample.1.1.dwconv.conv.weight", {1024, 1, 7}},
      {"code2wav.upsample.1.1.norm.weight", {1024}},
      {"code2wav.upsample.1.1.pwconv1.weight", {4096, 1024}},
      {"code2wav.upsample.1.1.pwconv2.weight", {1024, 4096}},
      {"code2wav.upsample.1.1.gamma", {1024}},
      {"code2wav.decoder.0.conv.weight", {1536, 1024, 7}},
      {"code2wav.decoder.0.conv.bias", {1536}},
      {"code2wav.decoder.1.block.0.alpha", {1536}},
      {"code2wav.decoder.1.block.1.conv.weight", {1536, 768, 16}},
      {"code2wav.decoder.1.block.1.conv.bias", {768}},
      {"code2wav.decoder.1.block.2.act1.alpha", {768}},
      {"code2wav.decoder.1.block.2.conv1.conv.weight", {768, 768, 7}},
      {"code2wav.decoder.1.block.4.conv2.conv.weight", {768, 768, 1}},
      {"code2wav.decoder.2.block.1.conv.weight", {768, 384, 10}},
      {"code2wav.decoder.3.block.1.conv.weight", {384, 192, 8}},
      {"code2wav.decoder.4.block.1.conv.weight", {192, 96, 6}},
      {"code2wav.decoder.4.block.3.act2.beta", {96}},
      {"code2wav.decoder.5.alpha", {96}},
      {"code2wav.decoder.5.beta", {96}},
      {"code2wav.decoder.6.conv.weight", {1, 96, 7}},
      {"code2wav.decoder.6.conv.bias", {1}},
  };
  for (const auto& [name, shape] : cases) {
    const TensorSpec* t = Get(name);
    if (t != nullptr) {
      EXPECT_EQ(t->shape, shape) << name;
    }
  }
}

// Spec §3: tensors the real checkpoint does not have.
TEST_F(FullOmniTableTest, AbsentTensors) {
  for (const char* name : {
           "thinker.model.layers.0.mlp.shared_expert.gate_proj.weight",
           "thinker.model.layers.0.mlp.shared_expert_gate.weight",
           "thinker.model.layers.0.self_attn.q_proj.bias",
           "thinker.model.layers.0.mlp.experts.128.gate_proj.weight",
           "thinker.model.layers.48.input_layernorm.weight",
           "thinker.model.layers.0.mlp.experts.gate_up_proj",
           "thinker.audio_tower.conv_out.bias",
           "thinker.visual.merger_list.3.mlp.0.weight",
           "thinker.visual.blocks.27.norm1.weight",
           "talker.model.embed_tokens.weight",
           "talker.lm_head.weight",
           "talker.model.layers.20.input_layernorm.weight",
           "talker.code_predictor.model.codec_embedding.15.weight",
           "talker.code_predictor.lm_head.15.weight",
           "talker.code_predictor.model.layers.5.input_layernorm.weight",
           "code2wav.pre_transformer.layers.0.self_attn.q_norm.weight",
           "code2wav.pre_transformer.layers.8.input_layernorm.weight",
           "code2wav.decoder.7.conv.weight",
       }) {
    EXPECT_EQ(by_name_->count(name), 0u) << name;
  }
}

TEST_F(FullOmniTableTest, PerComponentCounts) {
  std::array<uint64_t, kNumComponents> counts{};
  for (const TensorSpec& t : *tensors_)
    counts[static_cast<int>(ClassifyTensor(t.name).component)]++;
  auto count = [&](Component c) { return counts[static_cast<int>(c)]; };
  EXPECT_EQ(count(Component::kAudioTower), 525u);
  EXPECT_EQ(count(Component::kVision), 351u);
  EXPECT_EQ(count(Component::kThinker), 18867u);
  EXPECT_EQ(count(Component::kTalker), 7951u);
  EXPECT_EQ(count(Component::kCodePredictor), 86u);
  EXPECT_EQ(count(Component::kCode2Wav), 230u);
  EXPECT_EQ(count(Component::kText), 0u);
  EXPECT_EQ(count(Component::kOther), 0u);
}

TEST_F(FullOmniTableTest, ComponentsAreContiguousInOfficialOrder) {
  std::vector<Component> order;
  for (const TensorSpec& t : *tensors_) {
    Component c = ClassifyTensor(t.name).component;
    if (order.empty() || order.back() != c) order.push_back(c);
  }
  EXPECT_EQ(order, (std::vector<Component>{Component::kAudioTower, Component::kVision,
                                           Component::kThinker, Component::kTalker,
                                           Component::kCodePredictor, Component::kCode2Wav}));
}

TEST_F(FullOmniTableTest, ClassificationAgreesWithTheTable) {
  uint64_t routers = 0, thinker_experts = 0, talker_experts = 0;
  std::set<std::pair<int, int>> thinker_pairs;
  for (const TensorSpec& t : *tensors_) {
    const TensorKind k = ClassifyTensor(t.name);
    if (k.role == TensorRole::kRouter) {
      ++routers;
      EXPECT_TRUE(t.name.ends_with(".mlp.gate.weight")) << t.name;
      EXPECT_EQ(t.shape[0], 128) << t.name;
      EXPECT_EQ(t.init, Init::kRouter) << t.name;
    }
    if (k.role != TensorRole::kExpert) {
      EXPECT_EQ(t.name.find(".mlp.experts."), std::string::npos) << t.name;
      continue;
    }
    EXPECT_FALSE(k.fused()) << t.name;
    EXPECT_GE(k.layer, 0) << t.name;
    EXPECT_GE(k.expert, 0) << t.name;
    EXPECT_LT(k.expert, 128) << t.name;
    EXPECT_NE(k.proj, ExpertProj::kNone) << t.name;
    EXPECT_NE(k.proj, ExpertProj::kGateUp) << t.name;
    if (k.component == Component::kThinker) {
      ++thinker_experts;
      EXPECT_LT(k.layer, 48) << t.name;
      thinker_pairs.insert({k.layer, k.expert});
    } else {
      EXPECT_EQ(k.component, Component::kTalker) << t.name;
      EXPECT_LT(k.layer, 20) << t.name;
      ++talker_experts;
    }
  }
  EXPECT_EQ(routers, 48u + 20u);
  EXPECT_EQ(thinker_experts, 48u * 128 * 3);
  EXPECT_EQ(talker_experts, 20u * 128 * 3);
  EXPECT_EQ(thinker_pairs.size(), 48u * 128);
}

TEST_F(FullOmniTableTest, InitAndFanIn) {
  const TensorSpec* q = Get("thinker.model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->init, Init::kLinear);
  EXPECT_EQ(q->fan_in, 2048);
  const TensorSpec* o = Get("thinker.model.layers.0.self_attn.o_proj.weight");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->fan_in, 4096);
  const TensorSpec* conv = Get("thinker.audio_tower.conv2d2.weight");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->fan_in, 480 * 3 * 3);
  const TensorSpec* patch = Get("thinker.visual.patch_embed.proj.weight");
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->fan_in, 3 * 2 * 16 * 16);
  const TensorSpec* norm = Get("thinker.model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->init, Init::kNormWeight);
  const TensorSpec* emb = Get("thinker.model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->init, Init::kEmbedding);
  const TensorSpec* bias = Get("thinker.visual.blocks.0.attn.qkv.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->init, Init::kBias);
  const TensorSpec* scale = Get("code2wav.pre_transformer.layers.0.mlp_layer_scale.scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->init, Init::kLayerScale);
  const TensorSpec* alpha = Get("code2wav.decoder.5.alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->init, Init::kLogScale);
  for (const TensorSpec& t : *tensors_) EXPECT_GE(t.fan_in, 1) << t.name;
}

TEST(ModelTensorsTest, FullQwen3Moe) {
  const ModelConfig config = PresetConfig(Preset::kFull, Arch::kQwen3Moe);
  const std::vector<TensorSpec> tensors = ModelTensors(config);
  EXPECT_EQ(tensors.size(), 18867u);
  const auto by_name = ByName(tensors);
  EXPECT_EQ(by_name.size(), tensors.size());
  ASSERT_TRUE(by_name.count("model.embed_tokens.weight"));
  EXPECT_EQ(by_name.at("model.embed_tokens.weight")->shape, (Shape{151936, 2048}));
  ASSERT_TRUE(by_name.count("lm_head.weight"));
  EXPECT_EQ(by_name.at("lm_head.weight")->shape, (Shape{151936, 2048}));
  ASSERT_TRUE(by_name.count("model.layers.47.mlp.experts.127.down_proj.weight"));
  EXPECT_EQ(by_name.at("model.layers.47.mlp.experts.127.down_proj.weight")->shape,
            (Shape{2048, 768}));
  // Qwen3-30B-A3B: 30,532,122,624 parameters (the thinker's count less 2 x 128 vocabulary rows).
  EXPECT_EQ(Params(tensors), 30532646912u - 2u * (152064 - 151936) * 2048);
  for (const TensorSpec& t : tensors) {
    EXPECT_EQ(ClassifyTensor(t.name).component, Component::kText) << t.name;
  }
}

TEST(ModelTensorsTest, TiedEmbeddingsHaveNoLmHead) {
  ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3Moe);
  const size_t untied = ModelTensors(config).size();
  config.text.tie_word_embeddings = true;
  const auto tensors = ModelTensors(config);
  EXPECT_EQ(tensors.size(), untied - 1);
  EXPECT_EQ(ByName(tensors).count("lm_head.weight"), 0u);
}

TEST(ModelTensorsTest, DenseLayersFollowMlpOnlyLayersAndSparseStep) {
  ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3Moe);
  config.text.num_layers = 4;
  config.text.decoder_sparse_step = 2;  // layers 1 and 3 are MoE
  config.text.mlp_only_layers = {3};    // ... but not 3
  const std::vector<TensorSpec> tensors = ModelTensors(config);
  const auto by_name = ByName(tensors);
  const int64_t h = config.text.hidden_size, inter = config.text.intermediate_size;
  for (int layer : {0, 2, 3}) {
    const std::string p = "model.layers." + std::to_string(layer) + ".mlp.";
    ASSERT_TRUE(by_name.count(p + "gate_proj.weight")) << layer;
    EXPECT_EQ(by_name.at(p + "gate_proj.weight")->shape, (Shape{inter, h}));
    EXPECT_EQ(by_name.at(p + "down_proj.weight")->shape, (Shape{h, inter}));
    EXPECT_EQ(by_name.count(p + "gate.weight"), 0u) << layer;
    EXPECT_EQ(by_name.count(p + "experts.0.gate_proj.weight"), 0u) << layer;
  }
  EXPECT_EQ(by_name.count("model.layers.1.mlp.gate.weight"), 1u);
  EXPECT_EQ(by_name.count("model.layers.1.mlp.experts.7.down_proj.weight"), 1u);
  EXPECT_EQ(by_name.count("model.layers.1.mlp.gate_proj.weight"), 0u);
}

TEST(ModelTensorsTest, FusedLayout) {
  const ModelConfig config = PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe);
  const std::vector<TensorSpec> per_expert = ModelTensors(config, ExpertLayout::kPerExpert);
  const std::vector<TensorSpec> fused = ModelTensors(config, ExpertLayout::kFused);
  const auto by_name = ByName(fused);
  EXPECT_EQ(by_name.size(), fused.size());
  EXPECT_EQ(Params(fused), Params(per_expert));
  EXPECT_EQ(Params(fused), 35259818545u);
  // 382 per-expert tensors per MoE layer become 2.
  EXPECT_EQ(fused.size(), per_expert.size() - (48u + 20u) * (128 * 3 - 2));
  for (int layer : {0, 23, 47}) {
    const std::string p = "thinker.model.layers." + std::to_string(layer) + ".mlp.experts.";
    ASSERT_TRUE(by_name.count(p + "gate_up_proj")) << layer;
    ASSERT_TRUE(by_name.count(p + "down_proj")) << layer;
    const TensorSpec& gu = *by_name.at(p + "gate_up_proj");
    const TensorSpec& down = *by_name.at(p + "down_proj");
    EXPECT_EQ(gu.shape, (Shape{128, 1536, 2048}));
    EXPECT_EQ(down.shape, (Shape{128, 2048, 768}));
    EXPECT_EQ(gu.fan_in, 2048);  // per expert, as the per-expert tensors
    EXPECT_EQ(down.fan_in, 768);
    EXPECT_EQ(by_name.count(p + "0.gate_proj.weight"), 0u);
    EXPECT_EQ(by_name.count("thinker.model.layers." + std::to_string(layer) + ".mlp.gate.weight"),
              1u);
  }
  ASSERT_TRUE(by_name.count("talker.model.layers.19.mlp.experts.gate_up_proj"));
  EXPECT_EQ(by_name.at("talker.model.layers.19.mlp.experts.gate_up_proj")->shape,
            (Shape{128, 768, 1024}));
  EXPECT_EQ(by_name.at("talker.model.layers.19.mlp.experts.down_proj")->shape,
            (Shape{128, 1024, 384}));
  // The shared expert is not fused.
  EXPECT_EQ(by_name.count("talker.model.layers.19.mlp.shared_expert.gate_proj.weight"), 1u);
  uint64_t fused_tensors = 0;
  for (const TensorSpec& t : fused) {
    const TensorKind k = ClassifyTensor(t.name);
    if (k.role != TensorRole::kExpert) continue;
    ++fused_tensors;
    EXPECT_TRUE(k.fused()) << t.name;
    EXPECT_EQ(k.expert, -1) << t.name;
    EXPECT_EQ(t.shape.size(), 3u) << t.name;
  }
  EXPECT_EQ(fused_tensors, (48u + 20u) * 2);
}

// --- ClassifyTensor ----------------------------------------------------------------------------

TEST(ClassifyTensorTest, PerExpertNames) {
  TensorKind k = ClassifyTensor("thinker.model.layers.12.mlp.experts.127.down_proj.weight");
  EXPECT_EQ(k.component, Component::kThinker);
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 12);
  EXPECT_EQ(k.expert, 127);
  EXPECT_EQ(k.proj, ExpertProj::kDown);
  EXPECT_FALSE(k.fused());

  k = ClassifyTensor("thinker.model.layers.0.mlp.experts.0.gate_proj.weight");
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 0);
  EXPECT_EQ(k.expert, 0);
  EXPECT_EQ(k.proj, ExpertProj::kGate);

  k = ClassifyTensor("talker.model.layers.19.mlp.experts.64.up_proj.weight");
  EXPECT_EQ(k.component, Component::kTalker);
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 19);
  EXPECT_EQ(k.expert, 64);
  EXPECT_EQ(k.proj, ExpertProj::kUp);
}

TEST(ClassifyTensorTest, FusedNames) {
  TensorKind k = ClassifyTensor("thinker.model.layers.5.mlp.experts.gate_up_proj");
  EXPECT_EQ(k.component, Component::kThinker);
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 5);
  EXPECT_EQ(k.expert, -1);
  EXPECT_EQ(k.proj, ExpertProj::kGateUp);
  EXPECT_TRUE(k.fused());

  k = ClassifyTensor("talker.model.layers.7.mlp.experts.down_proj");
  EXPECT_EQ(k.component, Component::kTalker);
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 7);
  EXPECT_EQ(k.expert, -1);
  EXPECT_EQ(k.proj, ExpertProj::kDown);
  EXPECT_TRUE(k.fused());

  k = ClassifyTensor("model.layers.3.mlp.experts.gate_up_proj");
  EXPECT_EQ(k.component, Component::kText);
  EXPECT_TRUE(k.fused());
  EXPECT_EQ(k.layer, 3);
}

TEST(ClassifyTensorTest, Router) {
  TensorKind k = ClassifyTensor("thinker.model.layers.47.mlp.gate.weight");
  EXPECT_EQ(k.component, Component::kThinker);
  EXPECT_EQ(k.role, TensorRole::kRouter);
  EXPECT_EQ(k.layer, 47);
  EXPECT_EQ(k.expert, -1);
  EXPECT_EQ(k.proj, ExpertProj::kNone);
  EXPECT_FALSE(k.fused());

  k = ClassifyTensor("talker.model.layers.0.mlp.gate.weight");
  EXPECT_EQ(k.component, Component::kTalker);
  EXPECT_EQ(k.role, TensorRole::kRouter);
  EXPECT_EQ(k.layer, 0);
}

TEST(ClassifyTensorTest, SharedExpertIsDense) {
  for (const char* name : {"talker.model.layers.3.mlp.shared_expert.gate_proj.weight",
                           "talker.model.layers.3.mlp.shared_expert.up_proj.weight",
                           "talker.model.layers.3.mlp.shared_expert.down_proj.weight",
                           "talker.model.layers.3.mlp.shared_expert_gate.weight"}) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.component, Component::kTalker) << name;
    EXPECT_EQ(k.role, TensorRole::kDense) << name;
    EXPECT_EQ(k.layer, 3) << name;
    EXPECT_EQ(k.expert, -1) << name;
    EXPECT_FALSE(k.fused()) << name;
  }
}

TEST(ClassifyTensorTest, DenseMlpIsNotARouter) {
  // "mlp.gate_proj" must not be mistaken for the router "mlp.gate.weight".
  TensorKind k = ClassifyTensor("talker.code_predictor.model.layers.2.mlp.gate_proj.weight");
  EXPECT_EQ(k.component, Component::kCodePredictor);
  EXPECT_EQ(k.role, TensorRole::kDense);
  EXPECT_EQ(k.layer, 2);
  EXPECT_EQ(k.proj, ExpertProj::kNone);

  k = ClassifyTensor("code2wav.pre_transformer.layers.4.mlp.gate_proj.weight");
  EXPECT_EQ(k.component, Component::kCode2Wav);
  EXPECT_EQ(k.role, TensorRole::kDense);
  EXPECT_EQ(k.layer, 4);
}

TEST(ClassifyTensorTest, QuantizedSuffixes) {
  for (const char* name : {"thinker.model.layers.3.mlp.experts.17.gate_proj.weight_scale",
                           "thinker.model.layers.3.mlp.experts.17.gate_proj.qweight",
                           "thinker.model.layers.3.mlp.experts.17.gate_proj.scales",
                           "thinker.model.layers.3.mlp.experts.17.gate_proj.input_scale"}) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.component, Component::kThinker) << name;
    EXPECT_EQ(k.role, TensorRole::kExpert) << name;
    EXPECT_EQ(k.layer, 3) << name;
    EXPECT_EQ(k.expert, 17) << name;
    EXPECT_EQ(k.proj, ExpertProj::kGate) << name;
  }
  TensorKind k = ClassifyTensor("thinker.model.layers.3.mlp.gate.weight_scale");
  EXPECT_EQ(k.role, TensorRole::kRouter);
  EXPECT_EQ(k.layer, 3);
}

TEST(ClassifyTensorTest, QwenMoeText) {
  TensorKind k = ClassifyTensor("model.layers.2.mlp.experts.5.up_proj.weight");
  EXPECT_EQ(k.component, Component::kText);
  EXPECT_EQ(k.role, TensorRole::kExpert);
  EXPECT_EQ(k.layer, 2);
  EXPECT_EQ(k.expert, 5);
  EXPECT_EQ(k.proj, ExpertProj::kUp);

  k = ClassifyTensor("model.embed_tokens.weight");
  EXPECT_EQ(k.component, Component::kText);
  EXPECT_EQ(k.role, TensorRole::kDense);
  EXPECT_EQ(k.layer, -1);

  EXPECT_EQ(ClassifyTensor("lm_head.weight").component, Component::kText);
  EXPECT_EQ(ClassifyTensor("model.layers.9.mlp.gate.weight").role, TensorRole::kRouter);
}

TEST(ClassifyTensorTest, Components) {
  const std::vector<std::pair<std::string, Component>> cases = {
      {"thinker.audio_tower.layers.3.fc1.weight", Component::kAudioTower},
      {"thinker.audio_tower.conv2d1.weight", Component::kAudioTower},
      {"thinker.visual.blocks.3.attn.qkv.weight", Component::kVision},
      {"thinker.visual.merger_list.0.mlp.0.weight", Component::kVision},
      {"thinker.model.embed_tokens.weight", Component::kThinker},
      {"thinker.lm_head.weight", Component::kThinker},
      {"talker.model.codec_embedding.weight", Component::kTalker},
      {"talker.codec_head.weight", Component::kTalker},
      {"talker.text_projection.linear_fc1.weight", Component::kTalker},
      {"talker.code_predictor.lm_head.3.weight", Component::kCodePredictor},
      {"talker.code_predictor.model.codec_embedding.0.weight", Component::kCodePredictor},
      {"code2wav.decoder.6.conv.weight", Component::kCode2Wav},
      {"model.norm.weight", Component::kText},
  };
  for (const auto& [name, component] : cases) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.component, component) << name;
    EXPECT_EQ(k.role, TensorRole::kDense) << name;
  }
  // Encoder layers have a layer index but are never experts.
  EXPECT_EQ(ClassifyTensor("thinker.audio_tower.layers.31.fc2.bias").layer, 31);
}

TEST(ClassifyTensorTest, UnknownNames) {
  for (const char* name :
       {"", "foo", "foo.bar.weight", "visual.blocks.0.attn.qkv.weight", "thinker", "lm_head",
        "transformer.h.0.mlp.experts.3.w1.weight", "model_layers.1.mlp.gate.weight"}) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.component, Component::kOther) << name;
    EXPECT_EQ(k.role, TensorRole::kDense) << name;
    EXPECT_EQ(k.expert, -1) << name;
    EXPECT_FALSE(k.fused()) << name;
  }
}

TEST(ClassifyTensorTest, MalformedLayerAndExpertIndices) {
  const std::vector<std::string> names = {
      "thinker.model.layers.x.mlp.experts.3.gate_proj.weight",
      "thinker.model.layers.mlp.gate.weight",
      "thinker.model.layers.3",
      "thinker.model.layers.3x.mlp.gate.weight",
      "thinker.model.layers.99999999999999.mlp.gate.weight",
  };
  for (const std::string& name : names) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.component, Component::kThinker) << name;
    EXPECT_EQ(k.role, TensorRole::kDense) << name;
    EXPECT_EQ(k.layer, -1) << name;
  }
  // A layer but no valid expert index: neither an expert nor a router.
  for (const char* name : {"thinker.model.layers.3.mlp.experts.x.gate_proj.weight",
                           "thinker.model.layers.3.mlp.experts.gate_proj.weight",
                           "thinker.model.layers.3.mlp.experts.17"}) {
    TensorKind k = ClassifyTensor(name);
    EXPECT_EQ(k.layer, 3) << name;
    EXPECT_EQ(k.role, TensorRole::kDense) << name;
    EXPECT_EQ(k.expert, -1) << name;
  }
}

// On the full Qwen3-Omni model, --quant-dense takes each decoder stack's layer projections and
// the thinker's lm_head, and nothing else.
TEST(QuantizedByQuantDenseTest, TheDecoderStacksProjectionsAndTheThinkersHead) {
  std::map<Component, int> count;
  uint64_t bytes = 0;
  for (const TensorSpec& t : ModelTensors(PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe))) {
    if (!QuantizedByQuantDense(t.name, t.dtype, t.shape)) continue;
    ++count[ClassifyTensor(t.name).component];
    bytes += t.nbytes();
    EXPECT_TRUE(t.name == "thinker.lm_head.weight" || t.name.ends_with("_proj.weight")) << t.name;
  }
  // Thinker: 48 layers × q, k, v, o + lm_head. Talker: 20 × (q, k, v, o + the shared expert's
  // gate, up, down). Code predictor: 5 × (q, k, v, o + the MLP's gate, up, down).
  EXPECT_EQ(count[Component::kThinker], 48 * 4 + 1);
  EXPECT_EQ(count[Component::kTalker], 20 * 7);
  EXPECT_EQ(count[Component::kCodePredictor], 5 * 7);
  EXPECT_EQ(count.size(), 3u);
  EXPECT_GT(bytes, uint64_t{1} << 30);
  EXPECT_TRUE(
      QuantizedByQuantDense("model.layers.0.self_attn.q_proj.weight", DType::kBF16, {4096, 2048}));
  EXPECT_TRUE(QuantizedByQuantDense("lm_head.weight", DType::kBF16, {151936, 2048}));
  EXPECT_FALSE(
      QuantizedByQuantDense("model.layers.0.self_attn.q_proj.weight", DType::kF32, {4096, 2048}));
  EXPECT_FALSE(
      QuantizedByQuantDense("model.layers.0.self_attn.q_proj.weight", DType::kBF16, {4096, 2047}));
  EXPECT_FALSE(QuantizedByQuantDense("model.layers.0.mlp.gate.weight", DType::kBF16, {128, 2048}));
  EXPECT_FALSE(QuantizedByQuantDense("model.embed_tokens.weight", DType::kBF16, {151936, 2048}));
  EXPECT_FALSE(QuantizedByQuantDense("thinker.audio_tower.layers.0.self_attn.q_proj.weight",
                                     DType::kBF16, {1280, 1280}));
}

TEST(ComponentNameTest, Names) {
  EXPECT_EQ(ComponentName(Component::kText), "text");
  EXPECT_EQ(ComponentName(Component::kThinker), "thinker");
  EXPECT_EQ(ComponentName(Component::kAudioTower), "audio_tower");
  EXPECT_EQ(ComponentName(Component::kVision), "vision");
  EXPECT_EQ(ComponentName(Component::kTalker), "talker");
  EXPECT_EQ(ComponentName(Component::kCodePredictor), "code_predictor");
  EXPECT_EQ(ComponentName(Component::kCode2Wav), "code2wav");
  EXPECT_EQ(ComponentName(Component::kOther), "other");
}

}  // namespace
}  // namespace omnisage

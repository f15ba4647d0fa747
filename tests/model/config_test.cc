#include "model/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/presets.h"

namespace omnisage {
namespace {

using nlohmann::json;

constexpr char kFile[] = "config.json";

// Qwen/Qwen3-30B-A3B's config.json, as published.
json Qwen3MoeJson() {
  return json::parse(R"({
    "architectures": ["Qwen3MoeForCausalLM"],
    "attention_bias": false,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "decoder_sparse_step": 1,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 6144,
    "max_position_embeddings": 40960,
    "max_window_layers": 48,
    "mlp_only_layers": [],
    "model_type": "qwen3_moe",
    "moe_intermediate_size": 768,
    "norm_topk_prob": true,
    "num_attention_heads": 32,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 48,
    "num_key_value_heads": 4,
    "output_router_logits": false,
    "rms_norm_eps": 1e-06,
    "rope_scaling": null,
    "rope_theta": 1000000.0,
    "router_aux_loss_coef": 0.001,
    "sliding_window": null,
    "tie_word_embeddings": false,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0",
    "use_cache": true,
    "use_sliding_window": false,
    "vocab_size": 151936
  })");
}

// The config.json the generator writes for a preset, as plain json.
json PresetJson(Preset preset, Arch arch) {
  return json::parse(ModelConfigToJson(PresetConfig(preset, arch)).dump());
}

json FullOmniJson() { return PresetJson(Preset::kFull, Arch::kQwen3OmniMoe); }

ModelConfig MustParse(const json& j) {
  StatusOr<ModelConfig> c = ParseModelConfig(j, kFile);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ModelConfig{};
}

// The error message of a config that must be refused.
std::string ErrorOf(const json& j) {
  StatusOr<ModelConfig> c = ParseModelConfig(j, kFile);
  EXPECT_FALSE(c.ok()) << "parsed: " << j.dump();
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  return c.status().message();
}

void ExpectDecoderEq(const DecoderConfig& a, const DecoderConfig& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.moe_intermediate_size, b.moe_intermediate_size);
  EXPECT_EQ(a.num_experts, b.num_experts);
  EXPECT_EQ(a.num_experts_per_tok, b.num_experts_per_tok);
  EXPECT_EQ(a.norm_topk_prob, b.norm_topk_prob);
  EXPECT_EQ(a.shared_expert_intermediate_size, b.shared_expert_intermediate_size);
  EXPECT_EQ(a.decoder_sparse_step, b.decoder_sparse_step);
  EXPECT_EQ(a.mlp_only_layers, b.mlp_only_layers);
  EXPECT_DOUBLE_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_DOUBLE_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.mrope_section, b.mrope_section);
  EXPECT_EQ(a.mrope_interleaved, b.mrope_interleaved);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
}

void ExpectOmniEq(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.model_type, b.model_type);
  ExpectDecoderEq(a.text, b.text, "thinker text");
  EXPECT_EQ(a.audio.num_mel_bins, b.audio.num_mel_bins);
  EXPECT_EQ(a.audio.d_model, b.audio.d_model);
  EXPECT_EQ(a.audio.encoder_layers, b.audio.encoder_layers);
  EXPECT_EQ(a.audio.encoder_attention_heads, b.audio.encoder_attention_heads);
  EXPECT_EQ(a.audio.encoder_ffn_dim, b.audio.encoder_ffn_dim);
  EXPECT_EQ(a.audio.downsample_hidden_size, b.audio.downsample_hidden_size);
  EXPECT_EQ(a.audio.output_dim, b.audio.output_dim);
  EXPECT_EQ(a.audio.n_window, b.audio.n_window);
  EXPECT_EQ(a.audio.n_window_infer, b.audio.n_window_infer);
  EXPECT_EQ(a.audio.max_source_positions, b.audio.max_source_positions);
  EXPECT_EQ(a.vision.depth, b.vision.depth);
  EXPECT_EQ(a.vision.hidden_size, b.vision.hidden_size);
  EXPECT_EQ(a.vision.num_heads, b.vision.num_heads);
  EXPECT_EQ(a.vision.intermediate_size, b.vision.intermediate_size);
  EXPECT_EQ(a.vision.in_channels, b.vision.in_channels);
  EXPECT_EQ(a.vision.patch_size, b.vision.patch_size);
  EXPECT_EQ(a.vision.temporal_patch_size, b.vision.temporal_patch_size);
  EXPECT_EQ(a.vision.spatial_merge_size, b.vision.spatial_merge_size);
  EXPECT_EQ(a.vision.out_hidden_size, b.vision.out_hidden_size);
  EXPECT_EQ(a.vision.num_position_embeddings, b.vision.num_position_embeddings);
  EXPECT_EQ(a.vision.deepstack_visual_indexes, b.vision.deepstack_visual_indexes);
  EXPECT_EQ(a.has_talker, b.has_talker);
  ExpectDecoderEq(a.talker.text, b.talker.text, "talker text");
  ExpectDecoderEq(a.talker.code_predictor, b.talker.code_predictor, "code predictor");
  EXPECT_EQ(a.talker.thinker_hidden_size, b.talker.thinker_hidden_size);
  EXPECT_EQ(a.talker.num_code_groups, b.talker.num_code_groups);
  EXPECT_EQ(a.talker.accept_hidden_layer, b.talker.accept_hidden_layer);
  EXPECT_EQ(a.talker.codec_pad_id, b.talker.codec_pad_id);
  EXPECT_EQ(a.talker.codec_bos_id, b.talker.codec_bos_id);
  EXPECT_EQ(a.talker.codec_eos_token_id, b.talker.codec_eos_token_id);
  EXPECT_EQ(a.talker.codec_nothink_id, b.talker.codec_nothink_id);
  EXPECT_EQ(a.talker.codec_think_bos_id, b.talker.codec_think_bos_id);
  EXPECT_EQ(a.talker.codec_think_eos_id, b.talker.codec_think_eos_id);
  EXPECT_EQ(a.talker.speaker_id, b.talker.speaker_id);
  EXPECT_EQ(a.code2wav.codebook_size, b.code2wav.codebook_size);
  EXPECT_EQ(a.code2wav.num_quantizers, b.code2wav.num_quantizers);
  EXPECT_EQ(a.code2wav.hidden_size, b.code2wav.hidden_size);
  EXPECT_EQ(a.code2wav.intermediate_size, b.code2wav.intermediate_size);
  EXPECT_EQ(a.code2wav.num_layers, b.code2wav.num_layers);
  EXPECT_EQ(a.code2wav.num_heads, b.code2wav.num_heads);
  EXPECT_EQ(a.code2wav.num_kv_heads, b.code2wav.num_kv_heads);
  EXPECT_EQ(a.code2wav.head_dim, b.code2wav.head_dim);
  EXPECT_EQ(a.code2wav.sliding_window, b.code2wav.sliding_window);
  EXPECT_EQ(a.code2wav.decoder_dim, b.code2wav.decoder_dim);
  EXPECT_EQ(a.code2wav.upsample_rates, b.code2wav.upsample_rates);
  EXPECT_EQ(a.code2wav.upsampling_ratios, b.code2wav.upsampling_ratios);
  EXPECT_DOUBLE_EQ(a.code2wav.rope_theta, b.code2wav.rope_theta);
  EXPECT_DOUBLE_EQ(a.code2wav.rms_norm_eps, b.code2wav.rms_norm_eps);
  const SpecialTokens &s = a.tokens, &t = b.tokens;
  EXPECT_EQ(s.im_start, t.im_start);
  EXPECT_EQ(s.im_end, t.im_end);
  EXPECT_EQ(s.audio_token, t.audio_token);
  EXPECT_EQ(s.image_token, t.image_token);
  EXPECT_EQ(s.video_token, t.video_token);
  EXPECT_EQ(s.audio_start, t.audio_start);
  EXPECT_EQ(s.audio_end, t.audio_end);
  EXPECT_EQ(s.vision_start, t.vision_start);
  EXPECT_EQ(s.vision_end, t.vision_end);
  EXPECT_EQ(s.tts_pad, t.tts_pad);
  EXPECT_EQ(s.tts_bos, t.tts_bos);
  EXPECT_EQ(s.tts_eos, t.tts_eos);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- qwen3_moe ---------------------------------------------------------------------------------

TEST(ParseModelConfigTest, Qwen3Moe) {
  ModelConfig c = MustParse(Qwen3MoeJson());
  EXPECT_EQ(c.arch, Arch::kQwen3Moe);
  EXPECT_EQ(c.model_type, "qwen3_moe");
  EXPECT_EQ(ArchName(c.arch), "qwen3_moe");
  const DecoderConfig& t = c.text;
  EXPECT_EQ(t.vocab_size, 151936);
  EXPECT_EQ(t.hidden_size, 2048);
  EXPECT_EQ(t.num_layers, 48);
  EXPECT_EQ(t.num_heads, 32);
  EXPECT_EQ(t.num_kv_heads, 4);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.intermediate_size, 6144);
  EXPECT_EQ(t.moe_intermediate_size, 768);
  EXPECT_EQ(t.num_experts, 128);
  EXPECT_EQ(t.num_experts_per_tok, 8);
  EXPECT_TRUE(t.norm_topk_prob);
  EXPECT_EQ(t.shared_expert_intermediate_size, 0);
  EXPECT_EQ(t.decoder_sparse_step, 1);
  EXPECT_TRUE(t.mlp_only_layers.empty());
  EXPECT_DOUBLE_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(t.rope_theta, 1e6);
  EXPECT_TRUE(t.mrope_section.empty());
  EXPECT_FALSE(t.mrope_interleaved);
  EXPECT_FALSE(t.tie_word_embeddings);
  EXPECT_EQ(t.max_position_embeddings, 40960);
  for (int64_t l = 0; l < 48; ++l) EXPECT_TRUE(t.IsMoeLayer(l)) << l;
  // The file has no im_start/im_end keys.
  EXPECT_EQ(c.tokens.im_start, -1);
  EXPECT_EQ(c.tokens.im_end, -1);
  EXPECT_FALSE(c.has_talker);
}

TEST(ParseModelConfigTest, Qwen3MoeDefaults) {
  json j = Qwen3MoeJson();
  j.erase("head_dim");
  j.erase("num_key_value_heads");
  j.erase("decoder_sparse_step");
  j.erase("mlp_only_layers");
  j.erase("rms_norm_eps");
  j["im_start_token_id"] = 151644;
  j["im_end_token_id"] = 151645;
  ModelConfig c = MustParse(j);
  EXPECT_EQ(c.text.head_dim, 2048 / 32);
  EXPECT_EQ(c.text.num_kv_heads, 32);
  EXPECT_EQ(c.text.decoder_sparse_step, 1);
  EXPECT_TRUE(c.text.mlp_only_layers.empty());
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.tokens.im_start, 151644);
  EXPECT_EQ(c.tokens.im_end, 151645);
}

TEST(ParseModelConfigTest, Qwen3MoeMlpOnlyLayersAndSparseStep) {
  json j = Qwen3MoeJson();
  j["mlp_only_layers"] = {0, 47};
  j["decoder_sparse_step"] = 2;
  ModelConfig c = MustParse(j);
  EXPECT_EQ(c.text.mlp_only_layers, (std::vector<int64_t>{0, 47}));
  EXPECT_EQ(c.text.decoder_sparse_step, 2);
  EXPECT_FALSE(c.text.IsMoeLayer(0));
  EXPECT_TRUE(c.text.IsMoeLayer(1));
  EXPECT_FALSE(c.text.IsMoeLayer(2));
  EXPECT_TRUE(c.text.IsMoeLayer(45));
  EXPECT_FALSE(c.text.IsMoeLayer(47));
}

TEST(ParseModelConfigTest, IntegralFloatsAreIntegers) {
  json j = Qwen3MoeJson();
  j["num_hidden_layers"] = 48.0;
  EXPECT_EQ(MustParse(j).text.num_layers, 48);
  j["num_hidden_layers"] = 48.5;
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: num_hidden_layers: expected an integer")) << e;
}

TEST(ParseModelConfigTest, PresetsRoundTripQwen3Moe) {
  for (Preset p : {Preset::kTiny, Preset::kSmall, Preset::kFull}) {
    SCOPED_TRACE(PresetName(p));
    ModelConfig want = PresetConfig(p, Arch::kQwen3Moe);
    ModelConfig got = MustParse(PresetJson(p, Arch::kQwen3Moe));
    EXPECT_EQ(got.arch, Arch::kQwen3Moe);
    EXPECT_EQ(got.model_type, "qwen3_moe");
    ExpectDecoderEq(got.text, want.text, "text");
  }
}

// --- qwen3_omni_moe ----------------------------------------------------------------------------

TEST(ParseModelConfigTest, FullOmniParsesBackToTheRealNumbers) {
  ModelConfig c = MustParse(FullOmniJson());
  EXPECT_EQ(c.arch, Arch::kQwen3OmniMoe);
  EXPECT_EQ(c.model_type, "qwen3_omni_moe");
  EXPECT_EQ(ArchName(c.arch), "qwen3_omni_moe");

  // §1.1 thinker text.
  const DecoderConfig& t = c.text;
  EXPECT_EQ(t.vocab_size, 152064);
  EXPECT_EQ(t.hidden_size, 2048);
  EXPECT_EQ(t.num_layers, 48);
  EXPECT_EQ(t.num_heads, 32);
  EXPECT_EQ(t.num_kv_heads, 4);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.intermediate_size, 768);
  EXPECT_EQ(t.moe_intermediate_size, 768);
  EXPECT_EQ(t.num_experts, 128);
  EXPECT_EQ(t.num_experts_per_tok, 8);
  EXPECT_TRUE(t.norm_topk_prob);
  EXPECT_EQ(t.shared_expert_intermediate_size, 0);
  EXPECT_EQ(t.decoder_sparse_step, 1);
  EXPECT_TRUE(t.mlp_only_layers.empty());
  EXPECT_DOUBLE_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(t.rope_theta, 1e6);
  EXPECT_EQ(t.mrope_section, (std::vector<int64_t>{24, 20, 20}));
  EXPECT_TRUE(t.mrope_interleaved);
  EXPECT_FALSE(t.tie_word_embeddings);
  EXPECT_EQ(t.max_position_embeddings, 65536);

  // §1.2 audio.
  EXPECT_EQ(c.audio.num_mel_bins, 128);
  EXPECT_EQ(c.audio.d_model, 1280);
  EXPECT_EQ(c.audio.encoder_layers, 32);
  EXPECT_EQ(c.audio.encoder_attention_heads, 20);
  EXPECT_EQ(c.audio.encoder_ffn_dim, 5120);
  EXPECT_EQ(c.audio.downsample_hidden_size, 480);
  EXPECT_EQ(c.audio.output_dim, 2048);
  EXPECT_EQ(c.audio.n_window, 50);
  EXPECT_EQ(c.audio.n_window_infer, 800);
  EXPECT_EQ(c.audio.max_source_positions, 1500);

  // §1.3 vision.
  EXPECT_EQ(c.vision.depth, 27);
  EXPECT_EQ(c.vision.hidden_size, 1152);
  EXPECT_EQ(c.vision.num_heads, 16);
  EXPECT_EQ(c.vision.intermediate_size, 4304);
  EXPECT_EQ(c.vision.in_channels, 3);
  EXPECT_EQ(c.vision.patch_size, 16);
  EXPECT_EQ(c.vision.temporal_patch_size, 2);
  EXPECT_EQ(c.vision.spatial_merge_size, 2);
  EXPECT_EQ(c.vision.out_hidden_size, 2048);
  EXPECT_EQ(c.vision.num_position_embeddings, 2304);
  EXPECT_EQ(c.vision.deepstack_visual_indexes, (std::vector<int64_t>{8, 16, 24}));

  // §1.4 talker.
  ASSERT_TRUE(c.has_talker);
  const DecoderConfig& k = c.talker.text;
  EXPECT_EQ(k.vocab_size, 3072);
  EXPECT_EQ(k.hidden_size, 1024);
  EXPECT_EQ(k.num_layers, 20);
  EXPECT_EQ(k.num_heads, 16);
  EXPECT_EQ(k.num_kv_heads, 2);
  EXPECT_EQ(k.head_dim, 128);
  EXPECT_EQ(k.intermediate_size, 2048);
  EXPECT_EQ(k.moe_intermediate_size, 384);
  EXPECT_EQ(k.num_experts, 128);
  EXPECT_EQ(k.num_experts_per_tok, 6);
  EXPECT_TRUE(k.norm_topk_prob);
  EXPECT_EQ(k.shared_expert_intermediate_size, 768);
  EXPECT_EQ(k.mrope_section, (std::vector<int64_t>{24, 20, 20}));
  EXPECT_TRUE(k.mrope_interleaved);
  EXPECT_EQ(k.max_position_embeddings, 65536);
  const DecoderConfig& cp = c.talker.code_predictor;
  EXPECT_EQ(cp.vocab_size, 2048);
  EXPECT_EQ(cp.hidden_size, 1024);
  EXPECT_EQ(cp.num_layers, 5);
  EXPECT_EQ(cp.num_heads, 16);
  EXPECT_EQ(cp.num_kv_heads, 8);
  EXPECT_EQ(cp.head_dim, 128);
  EXPECT_EQ(cp.intermediate_size, 3072);
  EXPECT_EQ(cp.num_experts, 0);
  EXPECT_DOUBLE_EQ(cp.rope_theta, 1e6);
  EXPECT_TRUE(cp.mrope_section.empty());
  EXPECT_EQ(cp.max_position_embeddings, 32768);
  for (int64_t l = 0; l < cp.num_layers; ++l) EXPECT_FALSE(cp.IsMoeLayer(l)) << l;
  EXPECT_EQ(c.talker.thinker_hidden_size, 2048);
  EXPECT_EQ(c.talker.num_code_groups, 16);
  EXPECT_EQ(c.talker.accept_hidden_layer, 24);
  EXPECT_EQ(c.talker.codec_pad_id, 2148);
  EXPECT_EQ(c.talker.codec_bos_id, 2149);
  EXPECT_EQ(c.talker.codec_eos_token_id, 2150);
  EXPECT_EQ(c.talker.codec_nothink_id, 2155);
  EXPECT_EQ(c.talker.codec_think_bos_id, 2156);
  EXPECT_EQ(c.talker.codec_think_eos_id, 2157);
  EXPECT_EQ(c.talker.speaker_id,
            (std::map<std::string, int64_t>{{"chelsie", 2301}, {"ethan", 2302}, {"aiden", 2303}}));

  // §1.5 code2wav.
  EXPECT_EQ(c.code2wav.codebook_size, 2048);
  EXPECT_EQ(c.code2wav.num_quantizers, 16);
  EXPECT_EQ(c.code2wav.hidden_size, 1024);
  EXPECT_EQ(c.code2wav.intermediate_size, 3072);
  EXPECT_EQ(c.code2wav.num_layers, 8);
  EXPECT_EQ(c.code2wav.num_heads, 16);
  EXPECT_EQ(c.code2wav.num_kv_heads, 16);
  EXPECT_EQ(c.code2wav.head_dim, 64);
  EXPECT_EQ(c.code2wav.sliding_window, 72);
  EXPECT_EQ(c.code2wav.decoder_dim, 1536);
  EXPECT_EQ(c.code2wav.upsample_rates, (std::vector<int64_t>{8, 5, 4, 3}));
  EXPECT_EQ(c.code2wav.upsampling_ratios, (std::vector<int64_t>{2, 2}));
  EXPECT_DOUBLE_EQ(c.code2wav.rope_theta, 10000);
  EXPECT_DOUBLE_EQ(c.code2wav.rms_norm_eps, 1e-5);

  // §1 / §2 token ids.
  EXPECT_EQ(c.tokens.im_start, 151644);
  EXPECT_EQ(c.tokens.im_end, 151645);
  EXPECT_EQ(c.tokens.vision_start, 151652);
  EXPECT_EQ(c.tokens.vision_end, 151653);
  EXPECT_EQ(c.tokens.image_token, 151655);
  EXPECT_EQ(c.tokens.video_token, 151656);
  EXPECT_EQ(c.tokens.audio_start, 151669);
  EXPECT_EQ(c.tokens.audio_end, 151670);
  EXPECT_EQ(c.tokens.tts_pad, 151671);
  EXPECT_EQ(c.tokens.tts_bos, 151672);
  EXPECT_EQ(c.tokens.tts_eos, 151673);
  EXPECT_EQ(c.tokens.audio_token, 151675);

  ExpectOmniEq(c, PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe));
}

TEST(ParseModelConfigTest, FullOmniJsonHasTheOfficialLayout) {
  json j = FullOmniJson();
  EXPECT_EQ(j["architectures"], json({"Qwen3OmniMoeForConditionalGeneration"}));
  EXPECT_EQ(j["thinker_config"]["text_config"]["num_experts"], 128);
  EXPECT_EQ(j["thinker_config"]["text_config"]["rope_theta"], 1000000.0);
  EXPECT_EQ(j["thinker_config"]["text_config"]["rope_scaling"]["mrope_section"],
            json({24, 20, 20}));
  EXPECT_EQ(j["talker_config"]["text_config"]["num_experts_per_tok"], 6);
  EXPECT_EQ(j["system_token_id"], 8948);
  EXPECT_EQ(j["user_token_id"], 872);
  EXPECT_EQ(j["assistant_token_id"], 77091);
  EXPECT_FALSE(j["talker_config"]["code_predictor_config"].contains("num_experts"));
}

TEST(ParseModelConfigTest, OmniPresetsRoundTrip) {
  for (Preset p : {Preset::kTiny, Preset::kSmall, Preset::kFull}) {
    SCOPED_TRACE(PresetName(p));
    ExpectOmniEq(MustParse(PresetJson(p, Arch::kQwen3OmniMoe)),
                 PresetConfig(p, Arch::kQwen3OmniMoe));
  }
}

TEST(ParseModelConfigTest, TinyOmniTokenIdsFollowTheTinyVocabulary) {
  ModelConfig c = MustParse(PresetJson(Preset::kTiny, Arch::kQwen3OmniMoe));
  EXPECT_EQ(c.tokens.im_start, kTinyBpeTokens + 1);
  EXPECT_EQ(c.tokens.im_end, kTinyBpeTokens + 2);
  EXPECT_EQ(c.tokens.audio_token, kTinyBpeTokens + 32);
  EXPECT_LT(c.tokens.audio_token, c.text.vocab_size);
}

TEST(ParseModelConfigTest, WithoutAudioOutputTheTalkerIsOptional) {
  json j = FullOmniJson();
  j["enable_audio_output"] = false;
  j.erase("talker_config");
  j.erase("code2wav_config");
  ModelConfig c = MustParse(j);
  EXPECT_FALSE(c.has_talker);
  EXPECT_EQ(c.text.num_layers, 48);
}

// transformers v5 re-serialises rope_scaling + rope_theta as rope_parameters and the talker's
// num_experts as num_local_experts.
TEST(ParseModelConfigTest, TransformersV5Spellings) {
  json j = FullOmniJson();
  auto to_rope_parameters = [](json& cfg) {
    json rope = cfg["rope_scaling"];
    rope.erase("type");
    rope.erase("mrope_interleaved");  // v5 keeps only `interleaved`
    rope["rope_theta"] = cfg["rope_theta"];
    cfg.erase("rope_scaling");
    cfg.erase("rope_theta");
    cfg["rope_parameters"] = rope;
  };
  to_rope_parameters(j["thinker_config"]["text_config"]);
  json& talker_text = j["talker_config"]["text_config"];
  to_rope_parameters(talker_text);
  talker_text["num_local_experts"] = talker_text["num_experts"];
  talker_text.erase("num_experts");
  to_rope_parameters(j["talker_config"]["code_predictor_config"]);
  json& c2w = j["code2wav_config"];
  c2w["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", c2w["rope_theta"]}};
  c2w.erase("rope_theta");

  ASSERT_FALSE(j["thinker_config"]["text_config"].contains("rope_theta"));
  ASSERT_FALSE(talker_text.contains("num_experts"));
  ModelConfig c = MustParse(j);
  ExpectOmniEq(c, PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe));
  EXPECT_EQ(c.talker.text.num_experts, 128);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
  EXPECT_TRUE(c.text.mrope_interleaved);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{24, 20, 20}));
}

TEST(ParseModelConfigTest, MropeInterleavedAloneIsEnough) {
  json j = FullOmniJson();
  j["thinker_config"]["text_config"]["rope_scaling"].erase("interleaved");
  EXPECT_TRUE(MustParse(j).text.mrope_interleaved);
  j["thinker_config"]["text_config"]["rope_scaling"]["mrope_interleaved"] = false;
  EXPECT_FALSE(MustParse(j).text.mrope_interleaved);
}

TEST(ParseModelConfigTest, Qwen3MoeRopeParameters) {
  json j = Qwen3MoeJson();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
  ModelConfig c = MustParse(j);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
  EXPECT_TRUE(c.text.mrope_section.empty());
}

// --- Errors ------------------------------------------------------------------------------------

TEST(ParseModelConfigErrorsTest, MissingThinkerNumExperts) {
  json j = FullOmniJson();
  j["thinker_config"]["text_config"].erase("num_experts");
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json")) << e;
  EXPECT_TRUE(Contains(e, "thinker_config.text_config.num_experts")) << e;
  EXPECT_TRUE(Contains(e, "missing")) << e;
}

TEST(ParseModelConfigErrorsTest, NullCountsAsMissing) {
  json j = FullOmniJson();
  j["thinker_config"]["text_config"]["num_experts_per_tok"] = nullptr;
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: thinker_config.text_config.num_experts_per_tok: missing"))
      << e;
}

TEST(ParseModelConfigErrorsTest, MissingFieldsNameTheirPath) {
  struct Case {
    std::vector<std::string> path;  // the last element is erased
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"model_type"}, "config.json: model_type: missing"},
      {{"thinker_config"}, "config.json: thinker_config: missing"},
      {{"thinker_config", "audio_config"}, "config.json: thinker_config.audio_config: missing"},
      {{"thinker_config", "audio_config", "d_model"},
       "config.json: thinker_config.audio_config.d_model: missing"},
      {{"thinker_config", "vision_config", "deepstack_visual_indexes"},
       "config.json: thinker_config.vision_config.deepstack_visual_indexes: missing"},
      {{"thinker_config", "audio_token_id"}, "config.json: thinker_config.audio_token_id: missing"},
      {{"im_start_token_id"}, "config.json: im_start_token_id: missing"},
      {{"talker_config"}, "config.json: talker_config: missing"},
      {{"talker_config", "text_config", "moe_intermediate_size"},
       "config.json: talker_config.text_config.moe_intermediate_size: missing"},
      {{"talker_config", "code_predictor_config", "hidden_size"},
       "config.json: talker_config.code_predictor_config.hidden_size: missing"},
      {{"talker_config", "num_code_groups"}, "config.json: talker_config.num_code_groups: missing"},
      {{"code2wav_config", "decoder_dim"}, "config.json: code2wav_config.decoder_dim: missing"},
  };
  for (const Case& c : cases) {
    json j = FullOmniJson();
    json* obj = &j;
    for (size_t i = 0; i + 1 < c.path.size(); ++i) obj = &(*obj)[c.path[i]];
    ASSERT_TRUE(obj->contains(c.path.back())) << c.want;
    obj->erase(c.path.back());
    std::string e = ErrorOf(j);
    EXPECT_TRUE(Contains(e, c.want)) << "got: " << e << "\nwant: " << c.want;
  }
}

TEST(ParseModelConfigErrorsTest, MissingRopeTheta) {
  json j = FullOmniJson();
  j["thinker_config"]["text_config"].erase("rope_theta");
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "thinker_config.text_config.rope_theta: missing")) << e;
}

TEST(ParseModelConfigErrorsTest, WrongType) {
  json j = FullOmniJson();
  j["thinker_config"]["text_config"]["hidden_size"] = "2048";
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: thinker_config.text_config.hidden_size")) << e;
  EXPECT_TRUE(Contains(e, "expected an integer")) << e;
  EXPECT_TRUE(Contains(e, "\"2048\"")) << e;

  j = FullOmniJson();
  j["talker_config"]["text_config"]["norm_topk_prob"] = 1;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: talker_config.text_config.norm_topk_prob")) << e;
  EXPECT_TRUE(Contains(e, "expected true or false")) << e;

  j = FullOmniJson();
  j["thinker_config"]["text_config"]["rms_norm_eps"] = "1e-6";
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: thinker_config.text_config.rms_norm_eps")) << e;
  EXPECT_TRUE(Contains(e, "expected a number")) << e;

  j = FullOmniJson();
  j["thinker_config"] = json::array();
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: thinker_config: expected a JSON object")) << e;

  j = FullOmniJson();
  j["thinker_config"]["vision_config"]["deepstack_visual_indexes"] = {8, "16", 24};
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "thinker_config.vision_config.deepstack_visual_indexes.1")) << e;

  j = FullOmniJson();
  j["code2wav_config"]["upsample_rates"] = 8;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "code2wav_config.upsample_rates: expected an array")) << e;

  j = Qwen3MoeJson();
  j["model_type"] = 3;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: model_type: expected a string")) << e;
}

TEST(ParseModelConfigErrorsTest, RootMustBeAnObject) {
  std::string e = ErrorOf(json::array({1, 2}));
  EXPECT_TRUE(Contains(e, "config.json")) << e;
  EXPECT_TRUE(Contains(e, "expected a JSON object")) << e;
}

TEST(ParseModelConfigErrorsTest, UnsupportedModelType) {
  for (const char* type : {"qwen2_5_omni", "llama", "qwen3", ""}) {
    json j = FullOmniJson();
    j["model_type"] = type;
    std::string e = ErrorOf(j);
    EXPECT_TRUE(Contains(e, "config.json: model_type")) << e;
    EXPECT_TRUE(Contains(e, std::string("'") + type + "'")) << e;
    EXPECT_TRUE(Contains(e, "not supported")) << e;
  }
}

TEST(ParseModelConfigErrorsTest, TopKAboveExpertCount) {
  json j = Qwen3MoeJson();
  j["num_experts_per_tok"] = 129;
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: num_experts_per_tok")) << e;
  EXPECT_TRUE(Contains(e, "129")) << e;

  j = FullOmniJson();
  j["talker_config"]["text_config"]["num_experts"] = 4;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: talker_config.text_config.num_experts_per_tok")) << e;

  j = Qwen3MoeJson();
  j["num_experts_per_tok"] = 0;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "num_experts_per_tok")) << e;

  j = Qwen3MoeJson();
  j["num_experts_per_tok"] = 128;  // top-k = all experts is allowed
  EXPECT_EQ(MustParse(j).text.num_experts_per_tok, 128);
}

TEST(ParseModelConfigErrorsTest, KvHeadsMustDivideHeads) {
  json j = Qwen3MoeJson();
  j["num_key_value_heads"] = 3;
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "config.json: num_key_value_heads")) << e;
  EXPECT_TRUE(Contains(e, "does not divide")) << e;

  j = FullOmniJson();
  j["talker_config"]["code_predictor_config"]["num_key_value_heads"] = 5;
  e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "talker_config.code_predictor_config.num_key_value_heads")) << e;
}

TEST(ParseModelConfigErrorsTest, NonPositiveSizes) {
  for (const char* key :
       {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size", "num_experts", "moe_intermediate_size", "head_dim"}) {
    for (int v : {0, -4}) {
      json j = Qwen3MoeJson();
      j[key] = v;
      std::string e = ErrorOf(j);
      EXPECT_TRUE(Contains(e, std::string("config.json: ") + key)) << key << ": " << e;
    }
  }
  json j = Qwen3MoeJson();
  j["rope_theta"] = 0.0;
  std::string e = ErrorOf(j);
  EXPECT_TRUE(Contains(e, "rope_theta: must be positive")) << e;
}

TEST(ParseModelConfigErrorsTest, FileNameIsTheOneGiven) {
  json j = Qwen3MoeJson();
  j.erase("vocab_size");
  StatusOr<ModelConfig> c = ParseModelConfig(j, "/models/q/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(Contains(c.status().message(), "/models/q/config.json: vocab_size: missing"))
      << c.status().message();
}

// --- LoadModelConfig ---------------------------------------------------------------------------

class LoadModelConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("omnisage_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadModelConfigTest, ReadsAFile) {
  std::string path = Write("config.json", FullOmniJson().dump(2));
  StatusOr<ModelConfig> c = LoadModelConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectOmniEq(*c, PresetConfig(Preset::kFull, Arch::kQwen3OmniMoe));
}

TEST_F(LoadModelConfigTest, ErrorsNameThePath) {
  std::string path = Write("bad.json", "{\"model_type\": \"qwen3_moe\",");
  StatusOr<ModelConfig> c = LoadModelConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(Contains(c.status().message(), path)) << c.status().message();

  json j = Qwen3MoeJson();
  j.erase("hidden_size");
  path = Write("incomplete.json", j.dump());
  c = LoadModelConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(Contains(c.status().message(), path + ": hidden_size: missing"))
      << c.status().message();

  path = (dir_ / "absent.json").string();
  c = LoadModelConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(Contains(c.status().message(), path)) << c.status().message();
}

// --- DecoderConfig::IsMoeLayer -----------------------------------------------------------------

TEST(IsMoeLayerTest, AllLayersByDefault) {
  DecoderConfig c;
  c.num_experts = 8;
  c.num_layers = 4;
  for (int64_t l = 0; l < 4; ++l) EXPECT_TRUE(c.IsMoeLayer(l)) << l;
}

TEST(IsMoeLayerTest, NoExpertsNoMoe) {
  DecoderConfig c;
  c.num_experts = 0;
  for (int64_t l = 0; l < 4; ++l) EXPECT_FALSE(c.IsMoeLayer(l)) << l;
}

TEST(IsMoeLayerTest, MlpOnlyLayers) {
  DecoderConfig c;
  c.num_experts = 8;
  c.mlp_only_layers = {0, 3};
  EXPECT_FALSE(c.IsMoeLayer(0));
  EXPECT_TRUE(c.IsMoeLayer(1));
  EXPECT_TRUE(c.IsMoeLayer(2));
  EXPECT_FALSE(c.IsMoeLayer(3));
  EXPECT_TRUE(c.IsMoeLayer(4));
}

TEST(IsMoeLayerTest, DecoderSparseStep) {
  DecoderConfig c;
  c.num_experts = 8;
  c.decoder_sparse_step = 2;
  // transformers: (layer_idx + 1) % decoder_sparse_step == 0.
  EXPECT_FALSE(c.IsMoeLayer(0));
  EXPECT_TRUE(c.IsMoeLayer(1));
  EXPECT_FALSE(c.IsMoeLayer(2));
  EXPECT_TRUE(c.IsMoeLayer(3));
  c.decoder_sparse_step = 3;
  EXPECT_FALSE(c.IsMoeLayer(0));
  EXPECT_FALSE(c.IsMoeLayer(1));
  EXPECT_TRUE(c.IsMoeLayer(2));
  EXPECT_FALSE(c.IsMoeLayer(3));
  EXPECT_TRUE(c.IsMoeLayer(5));
}

TEST(IsMoeLayerTest, MlpOnlyWinsOverSparseStep) {
  DecoderConfig c;
  c.num_experts = 8;
  c.decoder_sparse_step = 2;
  c.mlp_only_layers = {3};
  EXPECT_TRUE(c.IsMoeLayer(1));
  EXPECT_FALSE(c.IsMoeLayer(3));
  EXPECT_TRUE(c.IsMoeLayer(5));
}

}  // namespace
}  // namespace omnisage

// Model configuration as read from a checkpoint's config.json.
//
// Two architectures: "qwen3_omni_moe" (Qwen3-Omni: thinker text + audio tower + vision tower,
// talker + code predictor, code2wav, each a nested config) and "qwen3_moe" (plain Qwen3-MoE text).
// Every value comes from the file; the Python classes' defaults differ from the real model (spec
// §1.7) and are never used. Both serialisations are accepted: transformers 4.57 (`rope_scaling`,
// `rope_theta`, `num_experts`) and v5 (`rope_parameters`, `num_local_experts`).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/quant.h"
#include "util/status.h"

namespace omnisage {

enum class Arch { kQwen3OmniMoe, kQwen3Moe };

// A decoder stack: the thinker's text model, the talker's, the code predictor, plain Qwen3-MoE.
struct DecoderConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;  // dense MLP width (mlp_only_layers, code predictor)
  int64_t moe_intermediate_size = 0;
  int64_t num_experts = 0;  // 0: no MoE layers
  int64_t num_experts_per_tok = 0;
  bool norm_topk_prob = false;
  int64_t shared_expert_intermediate_size = 0;  // 0: no shared expert
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000;
  std::vector<int64_t> mrope_section;  // empty: plain 1-D RoPE
  bool mrope_interleaved = false;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 0;
  // How the routed experts are stored: not from config.json but from the weights themselves
  // (DetectWeightFormat, model/expert_provider.h): bf16, or int8/int4 in an expert store made
  // with `extract --quant` (ops/quant.h). expert_group: int4's group size, else 0.
  WeightFormat expert_format = WeightFormat::kBf16;
  int64_t expert_group = 0;
  // How the layers' projections (and the text stack's lm_head) are stored, from the weights
  // too (DetectWeightFormat): bf16, or int8 in a store made with `extract --quant-dense`
  // (tensor_table.h QuantizedByQuantDense). Only the memory planner reads it; the loaders take
  // each tensor as it is stored.
  WeightFormat dense_format = WeightFormat::kBf16;

  // transformers' rule: MoE unless listed in mlp_only_layers, when experts exist and
  // (layer + 1) % decoder_sparse_step == 0.
  bool IsMoeLayer(int64_t layer) const;
};

struct AudioEncoderConfig {
  int64_t num_mel_bins = 0;
  int64_t d_model = 0;
  int64_t encoder_layers = 0;
  int64_t encoder_attention_heads = 0;
  int64_t encoder_ffn_dim = 0;
  int64_t downsample_hidden_size = 0;
  int64_t output_dim = 0;
  int64_t n_window = 0;
  int64_t n_window_infer = 0;
  int64_t max_source_positions = 0;
};

struct VisionEncoderConfig {
  int64_t depth = 0;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t in_channels = 0;
  int64_t patch_size = 0;
  int64_t temporal_patch_size = 0;
  int64_t spatial_merge_size = 0;
  int64_t out_hidden_size = 0;
  int64_t num_position_embeddings = 0;
  std::vector<int64_t> deepstack_visual_indexes;
};

struct TalkerConfig {
  DecoderConfig text;            // 20-layer MoE with a shared expert
  DecoderConfig code_predictor;  // 5-layer dense decoder
  int64_t thinker_hidden_size = 0;
  int64_t num_code_groups = 0;
  int64_t accept_hidden_layer = 0;
  int64_t codec_pad_id = 0, codec_bos_id = 0, codec_eos_token_id = 0;
  int64_t codec_nothink_id = 0, codec_think_bos_id = 0, codec_think_eos_id = 0;
  std::map<std::string, int64_t> speaker_id;
};

struct Code2WavConfig {
  int64_t codebook_size = 0;
  int64_t num_quantizers = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t sliding_window = 0;
  int64_t decoder_dim = 0;
  std::vector<int64_t> upsample_rates;     // decoder blocks, e.g. [8, 5, 4, 3]
  std::vector<int64_t> upsampling_ratios;  // pre-decoder upsample stages, e.g. [2, 2]
  double rope_theta = 10000;
  double rms_norm_eps = 1e-5;
};

// Token ids the generation glue needs (thinker vocabulary).
struct SpecialTokens {
  int64_t im_start = -1, im_end = -1;
  int64_t audio_token = -1, image_token = -1, video_token = -1;
  int64_t audio_start = -1, audio_end = -1, vision_start = -1, vision_end = -1;
  int64_t tts_pad = -1, tts_bos = -1, tts_eos = -1;
  // The role words after <|im_start|> (the first token of each when the tokenizer splits the
  // word); the talker prompt finds the user turns and the answer by them (spec §8.2).
  int64_t system = -1, user = -1, assistant = -1;
};

struct ModelConfig {
  Arch arch = Arch::kQwen3Moe;
  std::string model_type;  // as written in config.json
  DecoderConfig text;      // the thinker's text model, or the whole qwen3_moe model
  // qwen3_omni_moe only:
  AudioEncoderConfig audio;
  VisionEncoderConfig vision;
  bool has_talker = false;  // talker + code predictor + code2wav (enable_audio_output)
  TalkerConfig talker;
  Code2WavConfig code2wav;
  SpecialTokens tokens;
  // qwen3_omni_moe: temporal rotary positions per second of video (thinker_config).
  double position_id_per_seconds = 0;
};

std::string_view ArchName(Arch arch);

// Parses config.json contents; errors read "<file_name>: <field path>: <problem>".
StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& root, const std::string& file_name);
StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// The config.json a checkpoint of this configuration carries, in the layout of the official
// Qwen3-Omni / Qwen3-MoE files (transformers 4.57 keys), loadable by transformers.
nlohmann::ordered_json ModelConfigToJson(const ModelConfig& config);

}  // namespace omnisage

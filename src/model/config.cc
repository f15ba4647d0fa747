#include "model/config.h"

#include <fmt/format.h>

#include <cmath>

#include "io/file.h"
#include "util/json_fields.h"

namespace omnisage {

using nlohmann::json;
using nlohmann::ordered_json;

bool DecoderConfig::IsMoeLayer(int64_t layer) const {
  for (int64_t l : mlp_only_layers) {
    if (l == layer) return false;
  }
  return num_experts > 0 && decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

std::string_view ArchName(Arch arch) {
  return arch == Arch::kQwen3OmniMoe ? "qwen3_omni_moe" : "qwen3_moe";
}

namespace {

// Rope settings live in `rope_scaling` + `rope_theta` (4.57) or `rope_parameters` (v5).
Status ParseRope(const json& obj, const JsonPath& at, DecoderConfig* c) {
  const json* rope = nullptr;
  std::string rope_key;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_object()) {
      rope = &*it;
      rope_key = key;
      break;
    }
  }
  double theta = 0;
  if (obj.contains("rope_theta")) {
    OMNI_ASSIGN_OR_RETURN(theta, GetDouble(obj, "rope_theta", at));
  } else if (rope != nullptr && rope->contains("rope_theta")) {
    OMNI_ASSIGN_OR_RETURN(theta, GetDouble(*rope, "rope_theta", at.Child(rope_key)));
  } else {
    return at.Child("rope_theta").Error("missing (nor found in rope_parameters)");
  }
  if (!(theta > 0)) return at.Child("rope_theta").Error("must be positive");
  c->rope_theta = theta;
  if (rope != nullptr && rope->contains("mrope_section")) {
    OMNI_ASSIGN_OR_RETURN(c->mrope_section,
                          GetIntArray(*rope, "mrope_section", at.Child(rope_key)));
    bool a = false, b = false;
    OMNI_ASSIGN_OR_RETURN(a, GetBoolOr(*rope, "interleaved", at.Child(rope_key), false));
    OMNI_ASSIGN_OR_RETURN(b, GetBoolOr(*rope, "mrope_interleaved", at.Child(rope_key), false));
    c->mrope_interleaved = a || b;
  }
  return Status::Ok();
}

Status Positive(int64_t v, const JsonPath& at, std::string_view key) {
  if (v <= 0) return at.Child(key).Error(fmt::format("must be positive, got {}", v));
  return Status::Ok();
}

// Reads a decoder stack. `moe` says whether MoE keys are required.
StatusOr<DecoderConfig> ParseDecoder(const json& obj, const JsonPath& at, bool moe) {
  DecoderConfig c;
  OMNI_ASSIGN_OR_RETURN(c.vocab_size, GetInt(obj, "vocab_size", at));
  OMNI_ASSIGN_OR_RETURN(c.hidden_size, GetInt(obj, "hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_layers, GetInt(obj, "num_hidden_layers", at));
  OMNI_ASSIGN_OR_RETURN(c.num_heads, GetInt(obj, "num_attention_heads", at));
  OMNI_ASSIGN_OR_RETURN(c.num_kv_heads, GetIntOr(obj, "num_key_value_heads", at, c.num_heads));
  for (auto [key, v] : {std::pair{"vocab_size", c.vocab_size},
                        {"hidden_size", c.hidden_size},
                        {"num_hidden_layers", c.num_layers},
                        {"num_attention_heads", c.num_heads},
                        {"num_key_value_heads", c.num_kv_heads}}) {
    OMNI_RETURN_IF_ERROR(Positive(v, at, key));
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return at.Child("num_key_value_heads")
        .Error(
            fmt::format("{} does not divide num_attention_heads {}", c.num_kv_heads, c.num_heads));
  }
  OMNI_ASSIGN_OR_RETURN(c.head_dim, GetIntOr(obj, "head_dim", at, c.hidden_size / c.num_heads));
  OMNI_RETURN_IF_ERROR(Positive(c.head_dim, at, "head_dim"));
  OMNI_ASSIGN_OR_RETURN(c.intermediate_size, GetIntOr(obj, "intermediate_size", at, 0));
  OMNI_ASSIGN_OR_RETURN(c.rms_norm_eps, GetDoubleOr(obj, "rms_norm_eps", at, 1e-6));
  OMNI_ASSIGN_OR_RETURN(c.tie_word_embeddings, GetBoolOr(obj, "tie_word_embeddings", at, false));
  OMNI_ASSIGN_OR_RETURN(c.max_position_embeddings, GetIntOr(obj, "max_position_embeddings", at, 0));
  OMNI_RETURN_IF_ERROR(ParseRope(obj, at, &c));
  if (!moe) return c;
  // transformers v5 writes the talker's expert count as num_local_experts.
  const char* experts_key = obj.contains("num_local_experts") && !obj.contains("num_experts")
                                ? "num_local_experts"
                                : "num_experts";
  OMNI_ASSIGN_OR_RETURN(c.num_experts, GetInt(obj, experts_key, at));
  OMNI_ASSIGN_OR_RETURN(c.num_experts_per_tok, GetInt(obj, "num_experts_per_tok", at));
  OMNI_ASSIGN_OR_RETURN(c.moe_intermediate_size, GetInt(obj, "moe_intermediate_size", at));
  OMNI_ASSIGN_OR_RETURN(c.norm_topk_prob, GetBool(obj, "norm_topk_prob", at));
  OMNI_ASSIGN_OR_RETURN(c.shared_expert_intermediate_size,
                        GetIntOr(obj, "shared_expert_intermediate_size", at, 0));
  OMNI_ASSIGN_OR_RETURN(c.decoder_sparse_step, GetIntOr(obj, "decoder_sparse_step", at, 1));
  if (obj.contains("mlp_only_layers") && !obj["mlp_only_layers"].is_null()) {
    OMNI_ASSIGN_OR_RETURN(c.mlp_only_layers, GetIntArray(obj, "mlp_only_layers", at));
  }
  OMNI_RETURN_IF_ERROR(Positive(c.num_experts, at, experts_key));
  OMNI_RETURN_IF_ERROR(Positive(c.decoder_sparse_step, at, "decoder_sparse_step"));
  OMNI_RETURN_IF_ERROR(Positive(c.moe_intermediate_size, at, "moe_intermediate_size"));
  if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_experts) {
    return at.Child("num_experts_per_tok")
        .Error(fmt::format("{} is not in [1, {}]", c.num_experts_per_tok, c.num_experts));
  }
  return c;
}

StatusOr<AudioEncoderConfig> ParseAudio(const json& obj, const JsonPath& at) {
  AudioEncoderConfig c;
  OMNI_ASSIGN_OR_RETURN(c.num_mel_bins, GetInt(obj, "num_mel_bins", at));
  OMNI_ASSIGN_OR_RETURN(c.d_model, GetInt(obj, "d_model", at));
  OMNI_ASSIGN_OR_RETURN(c.encoder_layers, GetInt(obj, "encoder_layers", at));
  OMNI_ASSIGN_OR_RETURN(c.encoder_attention_heads, GetInt(obj, "encoder_attention_heads", at));
  OMNI_ASSIGN_OR_RETURN(c.encoder_ffn_dim, GetInt(obj, "encoder_ffn_dim", at));
  OMNI_ASSIGN_OR_RETURN(c.downsample_hidden_size, GetInt(obj, "downsample_hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.output_dim, GetInt(obj, "output_dim", at));
  OMNI_ASSIGN_OR_RETURN(c.n_window, GetInt(obj, "n_window", at));
  OMNI_ASSIGN_OR_RETURN(c.n_window_infer, GetInt(obj, "n_window_infer", at));
  OMNI_ASSIGN_OR_RETURN(c.max_source_positions, GetIntOr(obj, "max_source_positions", at, 1500));
  return c;
}

StatusOr<VisionEncoderConfig> ParseVision(const json& obj, const JsonPath& at) {
  VisionEncoderConfig c;
  OMNI_ASSIGN_OR_RETURN(c.depth, GetInt(obj, "depth", at));
  OMNI_ASSIGN_OR_RETURN(c.hidden_size, GetInt(obj, "hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_heads, GetInt(obj, "num_heads", at));
  OMNI_ASSIGN_OR_RETURN(c.intermediate_size, GetInt(obj, "intermediate_size", at));
  OMNI_ASSIGN_OR_RETURN(c.in_channels, GetInt(obj, "in_channels", at));
  OMNI_ASSIGN_OR_RETURN(c.patch_size, GetInt(obj, "patch_size", at));
  OMNI_ASSIGN_OR_RETURN(c.temporal_patch_size, GetInt(obj, "temporal_patch_size", at));
  OMNI_ASSIGN_OR_RETURN(c.spatial_merge_size, GetInt(obj, "spatial_merge_size", at));
  OMNI_ASSIGN_OR_RETURN(c.out_hidden_size, GetInt(obj, "out_hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_position_embeddings, GetInt(obj, "num_position_embeddings", at));
  OMNI_ASSIGN_OR_RETURN(c.deepstack_visual_indexes,
                        GetIntArray(obj, "deepstack_visual_indexes", at));
  return c;
}

StatusOr<Code2WavConfig> ParseCode2Wav(const json& obj, const JsonPath& at) {
  Code2WavConfig c;
  OMNI_ASSIGN_OR_RETURN(c.codebook_size, GetInt(obj, "codebook_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_quantizers, GetInt(obj, "num_quantizers", at));
  OMNI_ASSIGN_OR_RETURN(c.hidden_size, GetInt(obj, "hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.intermediate_size, GetInt(obj, "intermediate_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_layers, GetInt(obj, "num_hidden_layers", at));
  OMNI_ASSIGN_OR_RETURN(c.num_heads, GetInt(obj, "num_attention_heads", at));
  OMNI_ASSIGN_OR_RETURN(c.num_kv_heads, GetIntOr(obj, "num_key_value_heads", at, c.num_heads));
  OMNI_RETURN_IF_ERROR(Positive(c.num_heads, at, "num_attention_heads"));
  OMNI_ASSIGN_OR_RETURN(c.head_dim, GetIntOr(obj, "head_dim", at, c.hidden_size / c.num_heads));
  OMNI_ASSIGN_OR_RETURN(c.sliding_window, GetIntOr(obj, "sliding_window", at, 0));
  OMNI_ASSIGN_OR_RETURN(c.decoder_dim, GetInt(obj, "decoder_dim", at));
  OMNI_ASSIGN_OR_RETURN(c.upsample_rates, GetIntArray(obj, "upsample_rates", at));
  OMNI_ASSIGN_OR_RETURN(c.upsampling_ratios, GetIntArray(obj, "upsampling_ratios", at));
  OMNI_ASSIGN_OR_RETURN(c.rms_norm_eps, GetDoubleOr(obj, "rms_norm_eps", at, 1e-5));
  DecoderConfig rope;
  OMNI_RETURN_IF_ERROR(ParseRope(obj, at, &rope));
  c.rope_theta = rope.rope_theta;
  return c;
}

StatusOr<TalkerConfig> ParseTalker(const json& obj, const JsonPath& at) {
  TalkerConfig c;
  OMNI_ASSIGN_OR_RETURN(const json* text, GetObject(obj, "text_config", at));
  OMNI_ASSIGN_OR_RETURN(c.text, ParseDecoder(*text, at.Child("text_config"), /*moe=*/true));
  OMNI_ASSIGN_OR_RETURN(const json* cp, GetObject(obj, "code_predictor_config", at));
  OMNI_ASSIGN_OR_RETURN(c.code_predictor,
                        ParseDecoder(*cp, at.Child("code_predictor_config"), /*moe=*/false));
  OMNI_ASSIGN_OR_RETURN(c.thinker_hidden_size, GetInt(obj, "thinker_hidden_size", at));
  OMNI_ASSIGN_OR_RETURN(c.num_code_groups, GetInt(obj, "num_code_groups", at));
  OMNI_ASSIGN_OR_RETURN(c.accept_hidden_layer, GetInt(obj, "accept_hidden_layer", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_pad_id, GetInt(obj, "codec_pad_id", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_bos_id, GetInt(obj, "codec_bos_id", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_eos_token_id, GetInt(obj, "codec_eos_token_id", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_nothink_id, GetInt(obj, "codec_nothink_id", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_think_bos_id, GetInt(obj, "codec_think_bos_id", at));
  OMNI_ASSIGN_OR_RETURN(c.codec_think_eos_id, GetInt(obj, "codec_think_eos_id", at));
  if (obj.contains("speaker_id") && obj["speaker_id"].is_object()) {
    for (auto it = obj["speaker_id"].begin(); it != obj["speaker_id"].end(); ++it) {
      OMNI_ASSIGN_OR_RETURN(c.speaker_id[it.key()],
                            GetInt(obj["speaker_id"], it.key(), at.Child("speaker_id")));
    }
  }
  return c;
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(const json& root, const std::string& file_name) {
  JsonPath at(file_name);
  if (!root.is_object()) return at.Error("expected a JSON object");
  ModelConfig c;
  OMNI_ASSIGN_OR_RETURN(c.model_type, GetString(root, "model_type", at));
  if (c.model_type == "qwen3_moe") {
    c.arch = Arch::kQwen3Moe;
    OMNI_ASSIGN_OR_RETURN(c.text, ParseDecoder(root, at, /*moe=*/true));
    OMNI_ASSIGN_OR_RETURN(c.tokens.im_start, GetIntOr(root, "im_start_token_id", at, -1));
    OMNI_ASSIGN_OR_RETURN(c.tokens.im_end, GetIntOr(root, "im_end_token_id", at, -1));
    return c;
  }
  if (c.model_type != "qwen3_omni_moe") {
    return at.Child("model_type")
        .Error(fmt::format("'{}' is not supported (supported: qwen3_omni_moe, qwen3_moe)",
                           c.model_type));
  }
  c.arch = Arch::kQwen3OmniMoe;
  OMNI_ASSIGN_OR_RETURN(const json* thinker, GetObject(root, "thinker_config", at));
  JsonPath tat = at.Child("thinker_config");
  OMNI_ASSIGN_OR_RETURN(const json* text, GetObject(*thinker, "text_config", tat));
  OMNI_ASSIGN_OR_RETURN(c.text, ParseDecoder(*text, tat.Child("text_config"), /*moe=*/true));
  OMNI_ASSIGN_OR_RETURN(const json* audio, GetObject(*thinker, "audio_config", tat));
  OMNI_ASSIGN_OR_RETURN(c.audio, ParseAudio(*audio, tat.Child("audio_config")));
  OMNI_ASSIGN_OR_RETURN(const json* vision, GetObject(*thinker, "vision_config", tat));
  OMNI_ASSIGN_OR_RETURN(c.vision, ParseVision(*vision, tat.Child("vision_config")));
  SpecialTokens& t = c.tokens;
  OMNI_ASSIGN_OR_RETURN(t.audio_token, GetInt(*thinker, "audio_token_id", tat));
  OMNI_ASSIGN_OR_RETURN(t.image_token, GetInt(*thinker, "image_token_id", tat));
  OMNI_ASSIGN_OR_RETURN(t.video_token, GetInt(*thinker, "video_token_id", tat));
  OMNI_ASSIGN_OR_RETURN(t.audio_start, GetInt(*thinker, "audio_start_token_id", tat));
  OMNI_ASSIGN_OR_RETURN(t.audio_end, GetIntOr(*thinker, "audio_end_token_id", tat, -1));
  OMNI_ASSIGN_OR_RETURN(t.vision_start, GetIntOr(*thinker, "vision_start_token_id", tat, -1));
  OMNI_ASSIGN_OR_RETURN(t.vision_end, GetIntOr(*thinker, "vision_end_token_id", tat, -1));
  OMNI_ASSIGN_OR_RETURN(c.position_id_per_seconds,
                        GetDouble(*thinker, "position_id_per_seconds", tat));
  OMNI_ASSIGN_OR_RETURN(t.im_start, GetInt(root, "im_start_token_id", at));
  OMNI_ASSIGN_OR_RETURN(t.im_end, GetInt(root, "im_end_token_id", at));
  OMNI_ASSIGN_OR_RETURN(t.tts_pad, GetIntOr(root, "tts_pad_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(t.tts_bos, GetIntOr(root, "tts_bos_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(t.tts_eos, GetIntOr(root, "tts_eos_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(t.system, GetIntOr(root, "system_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(t.user, GetIntOr(root, "user_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(t.assistant, GetIntOr(root, "assistant_token_id", at, -1));
  OMNI_ASSIGN_OR_RETURN(c.has_talker, GetBoolOr(root, "enable_audio_output", at, true));
  if (c.has_talker) {
    OMNI_ASSIGN_OR_RETURN(const json* talker, GetObject(root, "talker_config", at));
    OMNI_ASSIGN_OR_RETURN(c.talker, ParseTalker(*talker, at.Child("talker_config")));
    OMNI_ASSIGN_OR_RETURN(const json* c2w, GetObject(root, "code2wav_config", at));
    OMNI_ASSIGN_OR_RETURN(c.code2wav, ParseCode2Wav(*c2w, at.Child("code2wav_config")));
  }
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  OMNI_ASSIGN_OR_RETURN(json root, ParseJson(text, path));
  return ParseModelConfig(root, path);
}

namespace {

ordered_json RopeJson(const DecoderConfig& c) {
  ordered_json rope = {{"rope_type", "default"}, {"type", "default"}};
  if (!c.mrope_section.empty()) {
    rope = {{"interleaved", c.mrope_interleaved},
            {"mrope_interleaved", c.mrope_interleaved},
            {"mrope_section", c.mrope_section},
            {"rope_type", "default"},
            {"type", "default"}};
  }
  return rope;
}

ordered_json DecoderJson(const DecoderConfig& c, std::string_view model_type, bool moe) {
  ordered_json j;
  j["model_type"] = model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_scaling"] = RopeJson(c);
  j["rope_theta"] = c.rope_theta;
  j["sliding_window"] = nullptr;
  j["use_sliding_window"] = false;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["use_cache"] = true;
  if (moe) {
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["shared_expert_intermediate_size"] = c.shared_expert_intermediate_size;
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
    j["output_router_logits"] = false;
    j["router_aux_loss_coef"] = 0.001;
  }
  return j;
}

}  // namespace

ordered_json ModelConfigToJson(const ModelConfig& c) {
  if (c.arch == Arch::kQwen3Moe) {
    ordered_json j = DecoderJson(c.text, "qwen3_moe", true);
    j["architectures"] = {"Qwen3MoeForCausalLM"};
    j["torch_dtype"] = "bfloat16";
    j["bos_token_id"] = c.tokens.im_start >= 0 ? c.tokens.im_start - 1 : 0;
    j["eos_token_id"] = c.tokens.im_end;
    return j;
  }
  const SpecialTokens& t = c.tokens;
  // Written as an integer when it is one, as the official file has it (13).
  ordered_json pps = c.position_id_per_seconds;
  if (c.position_id_per_seconds == std::floor(c.position_id_per_seconds)) {
    pps = static_cast<int64_t>(c.position_id_per_seconds);
  }
  ordered_json audio = {{"model_type", "qwen3_omni_moe_audio_encoder"},
                        {"num_mel_bins", c.audio.num_mel_bins},
                        {"d_model", c.audio.d_model},
                        {"encoder_layers", c.audio.encoder_layers},
                        {"encoder_attention_heads", c.audio.encoder_attention_heads},
                        {"encoder_ffn_dim", c.audio.encoder_ffn_dim},
                        {"activation_function", "gelu"},
                        {"downsample_hidden_size", c.audio.downsample_hidden_size},
                        {"output_dim", c.audio.output_dim},
                        {"n_window", c.audio.n_window},
                        {"n_window_infer", c.audio.n_window_infer},
                        {"conv_chunksize", 500},
                        {"max_source_positions", c.audio.max_source_positions},
                        {"scale_embedding", false},
                        {"dropout", 0.0}};
  ordered_json vision = {{"model_type", "qwen3_omni_moe_vision_encoder"},
                         {"depth", c.vision.depth},
                         {"hidden_size", c.vision.hidden_size},
                         {"num_heads", c.vision.num_heads},
                         {"intermediate_size", c.vision.intermediate_size},
                         {"hidden_act", "gelu_pytorch_tanh"},
                         {"in_channels", c.vision.in_channels},
                         {"patch_size", c.vision.patch_size},
                         {"temporal_patch_size", c.vision.temporal_patch_size},
                         {"spatial_merge_size", c.vision.spatial_merge_size},
                         {"out_hidden_size", c.vision.out_hidden_size},
                         {"num_position_embeddings", c.vision.num_position_embeddings},
                         {"deepstack_visual_indexes", c.vision.deepstack_visual_indexes},
                         {"apply_vit_abs_pos_embed", true},
                         {"image_size", 768},
                         {"tokens_per_second", 2}};
  ordered_json thinker = {{"model_type", "qwen3_omni_moe_thinker"},
                          {"text_config", DecoderJson(c.text, "qwen3_omni_moe_text", true)},
                          {"audio_config", audio},
                          {"vision_config", vision},
                          {"audio_token_id", t.audio_token},
                          {"image_token_id", t.image_token},
                          {"video_token_id", t.video_token},
                          {"audio_start_token_id", t.audio_start},
                          {"audio_end_token_id", t.audio_end},
                          {"vision_start_token_id", t.vision_start},
                          {"vision_end_token_id", t.vision_end},
                          {"position_id_per_seconds", pps},
                          {"seconds_per_chunk", 2},
                          {"user_token_id", t.user},
                          {"initializer_range", 0.02},
                          {"tie_word_embeddings", false}};
  ordered_json j;
  j["architectures"] = {"Qwen3OmniMoeForConditionalGeneration"};
  j["model_type"] = "qwen3_omni_moe";
  j["torch_dtype"] = "bfloat16";
  j["enable_audio_output"] = c.has_talker;
  j["im_start_token_id"] = t.im_start;
  j["im_end_token_id"] = t.im_end;
  j["system_token_id"] = t.system;
  j["user_token_id"] = t.user;
  j["assistant_token_id"] = t.assistant;
  j["tts_pad_token_id"] = t.tts_pad;
  j["tts_bos_token_id"] = t.tts_bos;
  j["tts_eos_token_id"] = t.tts_eos;
  j["thinker_config"] = thinker;
  if (c.has_talker) {
    const TalkerConfig& k = c.talker;
    ordered_json text = DecoderJson(k.text, "qwen3_omni_moe_talker_text", true);
    ordered_json cp = DecoderJson(k.code_predictor, "qwen3_omni_moe_talker_code_predictor", false);
    cp["num_code_groups"] = k.num_code_groups;
    cp["layer_types"] = std::vector<std::string>(k.code_predictor.num_layers, "full_attention");
    ordered_json talker = {{"model_type", "qwen3_omni_moe_talker"},
                           {"text_config", text},
                           {"code_predictor_config", cp},
                           {"thinker_hidden_size", k.thinker_hidden_size},
                           {"num_code_groups", k.num_code_groups},
                           {"accept_hidden_layer", k.accept_hidden_layer},
                           {"codec_pad_id", k.codec_pad_id},
                           {"codec_bos_id", k.codec_bos_id},
                           {"codec_eos_token_id", k.codec_eos_token_id},
                           {"codec_nothink_id", k.codec_nothink_id},
                           {"codec_think_bos_id", k.codec_think_bos_id},
                           {"codec_think_eos_id", k.codec_think_eos_id},
                           {"speaker_id", k.speaker_id},
                           {"audio_token_id", t.audio_token},
                           {"image_token_id", t.image_token},
                           {"video_token_id", t.video_token},
                           {"audio_start_token_id", t.audio_start},
                           {"vision_start_token_id", t.vision_start},
                           {"position_id_per_seconds", 13},
                           {"seconds_per_chunk", 2},
                           {"spatial_merge_size", c.vision.spatial_merge_size}};
    const Code2WavConfig& w = c.code2wav;
    ordered_json c2w = {{"model_type", "qwen3_omni_moe_code2wav"},
                        {"codebook_size", w.codebook_size},
                        {"num_quantizers", w.num_quantizers},
                        {"num_semantic_quantizers", 1},
                        {"semantic_codebook_size", 4096},
                        {"codebook_dim", 512},
                        {"vector_quantization_hidden_dimension", 512},
                        {"hidden_size", w.hidden_size},
                        {"intermediate_size", w.intermediate_size},
                        {"num_hidden_layers", w.num_layers},
                        {"num_attention_heads", w.num_heads},
                        {"num_key_value_heads", w.num_kv_heads},
                        {"head_dim", w.head_dim},
                        {"hidden_act", "silu"},
                        {"sliding_window", w.sliding_window},
                        {"rope_theta", w.rope_theta},
                        {"rms_norm_eps", w.rms_norm_eps},
                        {"layer_scale_initial_scale", 0.01},
                        {"attention_bias", false},
                        {"attention_dropout", 0.0},
                        {"decoder_dim", w.decoder_dim},
                        {"upsample_rates", w.upsample_rates},
                        {"upsampling_ratios", w.upsampling_ratios},
                        {"max_position_embeddings", 8000}};
    j["talker_config"] = talker;
    j["code2wav_config"] = c2w;
  }
  return j;
}

}  // namespace omnisage

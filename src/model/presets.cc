#include "model/presets.h"

#include <fmt/format.h>

namespace omnisage {

StatusOr<Preset> ParsePreset(std::string_view name) {
  if (name == "tiny") return Preset::kTiny;
  if (name == "small") return Preset::kSmall;
  if (name == "full") return Preset::kFull;
  return InvalidArgument(fmt::format("preset '{}': expected tiny, small or full", name));
}

std::string_view PresetName(Preset p) {
  switch (p) {
    case Preset::kTiny:
      return "tiny";
    case Preset::kSmall:
      return "small";
    case Preset::kFull:
      return "full";
  }
  return "?";
}

int64_t PresetSpecialId(Preset preset, int64_t real_id) {
  if (preset != Preset::kTiny || real_id < kQwenFirstSpecialId) return real_id;
  return kTinyBpeTokens + (real_id - kQwenFirstSpecialId);
}

namespace {

// Qwen3-Omni thinker text / Qwen3-30B-A3B decoder (spec §1.1).
DecoderConfig RealThinkerText() {
  DecoderConfig c;
  c.vocab_size = 152064;
  c.hidden_size = 2048;
  c.num_layers = 48;
  c.num_heads = 32;
  c.num_kv_heads = 4;
  c.head_dim = 128;
  c.intermediate_size = 768;
  c.moe_intermediate_size = 768;
  c.num_experts = 128;
  c.num_experts_per_tok = 8;
  c.norm_topk_prob = true;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.mrope_section = {24, 20, 20};
  c.mrope_interleaved = true;
  c.max_position_embeddings = 65536;
  return c;
}

DecoderConfig TinyDecoder() {
  DecoderConfig c;
  c.vocab_size = 4096;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 128;
  c.moe_intermediate_size = 32;
  c.num_experts = 8;
  c.num_experts_per_tok = 2;
  c.norm_topk_prob = true;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.mrope_section = {4, 2, 2};  // head_dim / 2 = 8 frequencies, split T/H/W as 24/20/20 is
  c.mrope_interleaved = true;
  c.max_position_embeddings = 4096;
  return c;
}

ModelConfig Qwen3Moe(Preset preset) {
  ModelConfig m;
  m.arch = Arch::kQwen3Moe;
  m.model_type = "qwen3_moe";
  if (preset == Preset::kTiny) {
    m.text = TinyDecoder();
  } else {
    m.text = RealThinkerText();  // Qwen3-30B-A3B: same per-layer shapes, its own vocabulary
    m.text.vocab_size = 151936;
    m.text.intermediate_size = 6144;
    m.text.max_position_embeddings = 40960;
    if (preset == Preset::kSmall) m.text.num_layers = 4;
  }
  m.text.mrope_section.clear();
  m.text.mrope_interleaved = false;
  m.tokens.im_start = PresetSpecialId(preset, 151644);
  m.tokens.im_end = PresetSpecialId(preset, 151645);
  return m;
}

void RealOmniParts(ModelConfig& m) {
  m.audio = {.num_mel_bins = 128,
             .d_model = 1280,
             .encoder_layers = 32,
             .encoder_attention_heads = 20,
             .encoder_ffn_dim = 5120,
             .downsample_hidden_size = 480,
             .output_dim = 2048,
             .n_window = 50,
             .n_window_infer = 800,
             .max_source_positions = 1500};
  m.vision = {.depth = 27,
              .hidden_size = 1152,
              .num_heads = 16,
              .intermediate_size = 4304,
              .in_channels = 3,
              .patch_size = 16,
              .temporal_patch_size = 2,
              .spatial_merge_size = 2,
              .out_hidden_size = 2048,
              .num_position_embeddings = 2304,
              .deepstack_visual_indexes = {8, 16, 24}};
  TalkerConfig& t = m.talker;
  t.text = RealThinkerText();
  t.text.vocab_size = 3072;
  t.text.hidden_size = 1024;
  t.text.num_layers = 20;
  t.text.num_heads = 16;
  t.text.num_kv_heads = 2;
  t.text.intermediate_size = 2048;
  t.text.moe_intermediate_size = 384;
  t.text.num_experts_per_tok = 6;
  t.text.shared_expert_intermediate_size = 768;
  DecoderConfig& cp = t.code_predictor;
  cp.vocab_size = 2048;
  cp.hidden_size = 1024;
  cp.num_layers = 5;
  cp.num_heads = 16;
  cp.num_kv_heads = 8;
  cp.head_dim = 128;
  cp.intermediate_size = 3072;
  cp.rms_norm_eps = 1e-6;
  cp.rope_theta = 1e6;
  cp.max_position_embeddings = 32768;
  t.thinker_hidden_size = 2048;
  t.num_code_groups = 16;
  t.accept_hidden_layer = 24;
  t.codec_pad_id = 2148;
  t.codec_bos_id = 2149;
  t.codec_eos_token_id = 2150;
  t.codec_nothink_id = 2155;
  t.codec_think_bos_id = 2156;
  t.codec_think_eos_id = 2157;
  t.speaker_id = {{"chelsie", 2301}, {"ethan", 2302}, {"aiden", 2303}};
  m.code2wav = {.codebook_size = 2048,
                .num_quantizers = 16,
                .hidden_size = 1024,
                .intermediate_size = 3072,
                .num_layers = 8,
                .num_heads = 16,
                .num_kv_heads = 16,
                .head_dim = 64,
                .sliding_window = 72,
                .decoder_dim = 1536,
                .upsample_rates = {8, 5, 4, 3},
                .upsampling_ratios = {2, 2},
                .rope_theta = 10000,
                .rms_norm_eps = 1e-5};
}

void TinyOmniParts(ModelConfig& m) {
  m.audio = {.num_mel_bins = 128,
             .d_model = 32,
             .encoder_layers = 2,
             .encoder_attention_heads = 4,
             .encoder_ffn_dim = 64,
             .downsample_hidden_size = 16,
             .output_dim = 64,
             .n_window = 50,
             .n_window_infer = 800,
             .max_source_positions = 1500};
  m.vision = {.depth = 2,
              .hidden_size = 32,
              .num_heads = 2,
              .intermediate_size = 64,
              .in_channels = 3,
              .patch_size = 16,
              .temporal_patch_size = 2,
              .spatial_merge_size = 2,
              .out_hidden_size = 64,
              .num_position_embeddings = 64,
              .deepstack_visual_indexes = {0, 1}};
  TalkerConfig& t = m.talker;
  t.text = TinyDecoder();
  // Codes 0..63, then 1024 ids for specials (64..) and the rest: transformers suppresses the
  // last 1024 ids of the talker's vocabulary (all but codec_eos), as the real 3072 = 2048 + 1024.
  t.text.vocab_size = 64 + 1024;
  t.text.hidden_size = 32;
  t.text.intermediate_size = 64;
  t.text.moe_intermediate_size = 16;
  t.text.shared_expert_intermediate_size = 32;
  DecoderConfig& cp = t.code_predictor;
  cp = TinyDecoder();
  cp.vocab_size = 64;
  cp.hidden_size = 32;
  cp.num_layers = 1;
  cp.intermediate_size = 64;
  cp.num_experts = 0;
  cp.num_experts_per_tok = 0;
  cp.moe_intermediate_size = 0;
  cp.norm_topk_prob = false;
  cp.mrope_section.clear();
  cp.mrope_interleaved = false;
  t.thinker_hidden_size = 64;
  t.num_code_groups = 4;
  t.accept_hidden_layer = 1;
  t.codec_pad_id = 64;
  t.codec_bos_id = 65;
  t.codec_eos_token_id = 66;
  t.codec_nothink_id = 71;
  t.codec_think_bos_id = 72;
  t.codec_think_eos_id = 73;
  t.speaker_id = {{"chelsie", 80}, {"ethan", 81}, {"aiden", 82}};
  m.code2wav = {.codebook_size = 64,
                .num_quantizers = 4,
                .hidden_size = 32,
                .intermediate_size = 64,
                .num_layers = 1,
                .num_heads = 4,
                .num_kv_heads = 4,
                .head_dim = 8,
                .sliding_window = 8,
                .decoder_dim = 32,
                .upsample_rates = {2, 2},
                .upsampling_ratios = {2, 2},
                .rope_theta = 10000,
                .rms_norm_eps = 1e-5};
}

ModelConfig Qwen3Omni(Preset preset) {
  ModelConfig m;
  m.arch = Arch::kQwen3OmniMoe;
  m.model_type = "qwen3_omni_moe";
  m.has_talker = true;
  m.position_id_per_seconds = 13;
  if (preset == Preset::kTiny) {
    m.text = TinyDecoder();
    TinyOmniParts(m);
  } else {
    m.text = RealThinkerText();
    RealOmniParts(m);
    if (preset == Preset::kSmall) {
      m.text.num_layers = 4;
      m.audio.encoder_layers = 2;
      m.vision.depth = 3;
      m.vision.deepstack_visual_indexes = {0, 1, 2};
      m.talker.text.num_layers = 2;
      m.talker.code_predictor.num_layers = 1;
      m.talker.accept_hidden_layer = 2;
      m.code2wav.num_layers = 1;
    }
  }
  // The code predictor is a dense decoder; it has no MoE keys.
  DecoderConfig& cp = m.talker.code_predictor;
  cp.num_experts = 0;
  cp.num_experts_per_tok = 0;
  cp.moe_intermediate_size = 0;
  auto id = [&](int64_t real) { return PresetSpecialId(preset, real); };
  SpecialTokens& t = m.tokens;
  t.im_start = id(151644);
  t.im_end = id(151645);
  t.vision_start = id(151652);
  t.vision_end = id(151653);
  t.image_token = id(151655);
  t.video_token = id(151656);
  t.audio_start = id(151669);
  t.audio_end = id(151670);
  t.tts_pad = id(151671);
  t.tts_bos = id(151672);
  t.tts_eos = id(151673);
  t.audio_token = id(151675);
  if (preset == Preset::kTiny) {
    // The tiny BPE (the first 4000 merges) keeps "user" (872) but splits "system" into 82 612 and
    // "assistant" into 395 380 517; the config names the first piece, which is what transformers
    // matches after <|im_start|>.
    t.system = 82;
    t.user = 872;
    t.assistant = 395;
  } else {
    t.system = 8948;
    t.user = 872;
    t.assistant = 77091;
  }
  return m;
}

}  // namespace

ModelConfig PresetConfig(Preset preset, Arch arch) {
  return arch == Arch::kQwen3Moe ? Qwen3Moe(preset) : Qwen3Omni(preset);
}

}  // namespace omnisage

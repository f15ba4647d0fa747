#include "model/tensor_table.h"

#include <fmt/format.h>

#include <charconv>

#include "ops/quant.h"

namespace omnisage {

std::string_view ComponentName(Component c) {
  switch (c) {
    case Component::kText:
      return "text";
    case Component::kThinker:
      return "thinker";
    case Component::kAudioTower:
      return "audio_tower";
    case Component::kVision:
      return "vision";
    case Component::kTalker:
      return "talker";
    case Component::kCodePredictor:
      return "code_predictor";
    case Component::kCode2Wav:
      return "code2wav";
    case Component::kOther:
      return "other";
  }
  return "other";
}

uint64_t TensorSpec::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Names, read backwards.

namespace {

// Component prefixes, most specific first.
struct Prefix {
  std::string_view prefix;
  Component component;
};
constexpr Prefix kPrefixes[] = {
    {"thinker.audio_tower.", Component::kAudioTower},
    {"thinker.visual.", Component::kVision},
    {"thinker.", Component::kThinker},
    {"talker.code_predictor.", Component::kCodePredictor},
    {"talker.", Component::kTalker},
    {"code2wav.", Component::kCode2Wav},
    {"model.", Component::kText},
    {"lm_head.", Component::kText},
};

// Parses the decimal number that starts `s`; -1 if none.
int LeadingNumber(std::string_view s, size_t* consumed) {
  int v = -1;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return -1;
  *consumed = static_cast<size_t>(ptr - s.data());
  return v;
}

ExpertProj ProjFromName(std::string_view rest) {
  if (rest.starts_with("gate_up_proj")) return ExpertProj::kGateUp;
  if (rest.starts_with("gate_proj")) return ExpertProj::kGate;
  if (rest.starts_with("up_proj")) return ExpertProj::kUp;
  if (rest.starts_with("down_proj")) return ExpertProj::kDown;
  return ExpertProj::kNone;
}

constexpr std::string_view kLayers = ".layers.";
constexpr std::string_view kExperts = "mlp.experts.";
constexpr std::string_view kRouter = "mlp.gate.";

}  // namespace

TensorKind ClassifyTensor(std::string_view name) {
  TensorKind k;
  for (const Prefix& p : kPrefixes) {
    if (name.starts_with(p.prefix)) {
      k.component = p.component;
      break;
    }
  }
  size_t at = name.find(kLayers);
  if (at == std::string_view::npos) return k;
  size_t used = 0;
  std::string_view after = name.substr(at + kLayers.size());
  k.layer = LeadingNumber(after, &used);
  if (k.layer < 0 || used >= after.size() || after[used] != '.') {
    k.layer = -1;
    return k;
  }
  std::string_view rest = after.substr(used + 1);
  if (rest.starts_with(kRouter)) {
    k.role = TensorRole::kRouter;
    return k;
  }
  if (!rest.starts_with(kExperts)) return k;
  rest.remove_prefix(kExperts.size());
  int e = LeadingNumber(rest, &used);
  if (e >= 0 && used < rest.size() && rest[used] == '.') {
    k.role = TensorRole::kExpert;
    k.expert = e;
    k.proj = ProjFromName(rest.substr(used + 1));
  } else {
    ExpertProj proj = ProjFromName(rest);
    if (proj == ExpertProj::kGateUp || proj == ExpertProj::kDown) {
      k.role = TensorRole::kExpert;
      k.proj = proj;
    }
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// Names, written forwards.

std::string DecoderLayerNames::Expert(int64_t e, ExpertProj proj) const {
  const char* p = proj == ExpertProj::kGate ? "gate_proj"
                  : proj == ExpertProj::kUp ? "up_proj"
                                            : "down_proj";
  return fmt::format("{}{}.{}.weight", experts_prefix, e, p);
}

std::vector<FusedExpertPart> FusedExpertParts(std::string_view name,
                                              const std::vector<int64_t>& shape) {
  const TensorKind kind = ClassifyTensor(name);
  const bool gate_up = kind.proj == ExpertProj::kGateUp;
  if (!kind.fused() || shape.size() != 3 || shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0 ||
      (gate_up && shape[1] % 2 != 0)) {
    return {};
  }
  const std::string prefix(name.substr(0, name.rfind('.') + 1));  // "…mlp.experts."
  const int64_t experts = shape[0], rows = shape[1], cols = shape[2];
  const uint64_t slice = static_cast<uint64_t>(rows * cols);
  std::vector<FusedExpertPart> parts;
  for (int64_t e = 0; e < experts; ++e) {
    const uint64_t base = static_cast<uint64_t>(e) * slice;
    auto add = [&](const char* proj, int64_t r, uint64_t first) {
      parts.push_back({e,
                       fmt::format("{}{}.{}.weight", prefix, e, proj),
                       {r, cols},
                       first,
                       static_cast<uint64_t>(r * cols)});
    };
    if (gate_up) {
      add("gate_proj", rows / 2, base);
      add("up_proj", rows / 2, base + slice / 2);
    } else {
      add("down_proj", rows, base);
    }
  }
  return parts;
}

bool QuantizedByQuantDense(std::string_view name, DType dtype, const std::vector<int64_t>& shape) {
  if (dtype != DType::kBF16 || shape.size() != 2 || shape[1] % kQ8Block != 0) return false;
  const TensorKind kind = ClassifyTensor(name);
  if (kind.role != TensorRole::kDense) return false;
  switch (kind.component) {
    case Component::kText:
    case Component::kThinker:
      if (name == "lm_head.weight" || name == "thinker.lm_head.weight") return true;
      [[fallthrough]];
    case Component::kTalker:
    case Component::kCodePredictor:
      return kind.layer >= 0 && name.ends_with("_proj.weight");
    default:
      return false;
  }
}

DecoderLayerNames LayerNames(const std::string& stack_prefix, int64_t layer) {
  const std::string p = fmt::format("{}layers.{}.", stack_prefix, layer);
  DecoderLayerNames n;
  n.input_norm = p + "input_layernorm.weight";
  n.q_proj = p + "self_attn.q_proj.weight";
  n.k_proj = p + "self_attn.k_proj.weight";
  n.v_proj = p + "self_attn.v_proj.weight";
  n.o_proj = p + "self_attn.o_proj.weight";
  n.q_norm = p + "self_attn.q_norm.weight";
  n.k_norm = p + "self_attn.k_norm.weight";
  n.post_norm = p + "post_attention_layernorm.weight";
  n.router = p + std::string(kRouter) + "weight";
  n.mlp_gate = p + "mlp.gate_proj.weight";
  n.mlp_up = p + "mlp.up_proj.weight";
  n.mlp_down = p + "mlp.down_proj.weight";
  n.shared_gate = p + "mlp.shared_expert.gate_proj.weight";
  n.shared_up = p + "mlp.shared_expert.up_proj.weight";
  n.shared_down = p + "mlp.shared_expert.down_proj.weight";
  n.shared_expert_gate = p + "mlp.shared_expert_gate.weight";
  n.experts_prefix = p + std::string(kExperts);
  return n;
}

AudioTowerNames AudioTower() {
  const std::string p = "thinker.audio_tower.";
  return {p + "conv2d1", p + "conv2d2", p + "conv2d3", p + "conv_out",
          p + "ln_post", p + "proj1",   p + "proj2"};
}

AudioLayerNames AudioLayer(int64_t layer) {
  const std::string p = fmt::format("thinker.audio_tower.layers.{}.", layer);
  return {p + "self_attn.q_proj",
          p + "self_attn.k_proj",
          p + "self_attn.v_proj",
          p + "self_attn.out_proj",
          p + "self_attn_layer_norm",
          p + "fc1",
          p + "fc2",
          p + "final_layer_norm"};
}

VisionTowerNames VisionTower() {
  return {"thinker.visual.patch_embed.proj", "thinker.visual.pos_embed"};
}

VisionBlockNames VisionBlock(int64_t block) {
  const std::string p = fmt::format("thinker.visual.blocks.{}.", block);
  return {p + "norm1",     p + "norm2",          p + "attn.qkv",
          p + "attn.proj", p + "mlp.linear_fc1", p + "mlp.linear_fc2"};
}

VisionMergerNames VisionMerger(int64_t k) {
  const std::string p = k < 0 ? std::string("thinker.visual.merger.")
                              : fmt::format("thinker.visual.merger_list.{}.", k);
  return {p + "ln_q", p + "mlp.0", p + "mlp.2"};
}

DecoderStackNames StackNames(const ModelConfig& config, Component c) {
  switch (c) {
    case Component::kTalker:
      return {"talker.model.", "talker.model.codec_embedding.weight", "talker.model.norm.weight",
              "talker.codec_head.weight"};
    case Component::kThinker:
      return {"thinker.model.", "thinker.model.embed_tokens.weight", "thinker.model.norm.weight",
              "thinker.lm_head.weight"};
    default:
      return {"model.", "model.embed_tokens.weight", "model.norm.weight",
              config.text.tie_word_embeddings ? "" : "lm_head.weight"};
  }
}

namespace {

class TableBuilder {
 public:
  explicit TableBuilder(ExpertLayout layout) : layout_(layout) {}

  void Add(std::string name, std::vector<int64_t> shape, Init init, int64_t fan_in = 0) {
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.init = init;
    if (fan_in == 0) {
      fan_in = 1;
      for (size_t i = 1; i < t.shape.size(); ++i) fan_in *= t.shape[i];
    }
    t.fan_in = fan_in;
    out_.push_back(std::move(t));
  }
  void Linear(const std::string& p, int64_t out, int64_t in, bool bias = false) {
    Add(p + ".weight", {out, in}, Init::kLinear);
    if (bias) Add(p + ".bias", {out}, Init::kBias);
  }
  void Norm(const std::string& p, int64_t n) { Add(p + ".weight", {n}, Init::kNormWeight); }
  void LayerNorm(const std::string& p, int64_t n) {
    Add(p + ".weight", {n}, Init::kNormWeight);
    Add(p + ".bias", {n}, Init::kBias);
  }

  // One decoder layer's attention and MLP: thinker, talker, code predictor, qwen3_moe.
  void DecoderLayer(const std::string& stack, const DecoderConfig& c, int64_t layer) {
    const DecoderLayerNames n = LayerNames(stack, layer);
    const int64_t h = c.hidden_size;
    Add(n.input_norm, {h}, Init::kNormWeight);
    Add(n.q_proj, {c.num_heads * c.head_dim, h}, Init::kLinear);
    Add(n.k_proj, {c.num_kv_heads * c.head_dim, h}, Init::kLinear);
    Add(n.v_proj, {c.num_kv_heads * c.head_dim, h}, Init::kLinear);
    Add(n.o_proj, {h, c.num_heads * c.head_dim}, Init::kLinear);
    Add(n.q_norm, {c.head_dim}, Init::kNormWeight);
    Add(n.k_norm, {c.head_dim}, Init::kNormWeight);
    Add(n.post_norm, {h}, Init::kNormWeight);
    if (!c.IsMoeLayer(layer)) {
      SwiGlu(n.mlp_gate, n.mlp_up, n.mlp_down, c.intermediate_size, h);
      return;
    }
    const int64_t i = c.moe_intermediate_size;
    Add(n.router, {c.num_experts, h}, Init::kRouter);
    if (layout_ == ExpertLayout::kPerExpert) {
      for (int64_t e = 0; e < c.num_experts; ++e) {
        SwiGlu(n.Expert(e, ExpertProj::kGate), n.Expert(e, ExpertProj::kUp),
               n.Expert(e, ExpertProj::kDown), i, h);
      }
    } else {
      Add(n.experts_prefix + "gate_up_proj", {c.num_experts, 2 * i, h}, Init::kLinear, h);
      Add(n.experts_prefix + "down_proj", {c.num_experts, h, i}, Init::kLinear, i);
    }
    if (c.shared_expert_intermediate_size > 0) {
      SwiGlu(n.shared_gate, n.shared_up, n.shared_down, c.shared_expert_intermediate_size, h);
      Add(n.shared_expert_gate, {1, h}, Init::kLinear);
    }
  }

  void Layers(const std::string& p, const DecoderConfig& c) {
    for (int64_t l = 0; l < c.num_layers; ++l) DecoderLayer(p, c, l);
  }

  std::vector<TensorSpec> Take() { return std::move(out_); }

 private:
  void SwiGlu(const std::string& gate, const std::string& up, const std::string& down,
              int64_t inter, int64_t h) {
    Add(gate, {inter, h}, Init::kLinear);
    Add(up, {inter, h}, Init::kLinear);
    Add(down, {h, inter}, Init::kLinear);
  }

  ExpertLayout layout_;
  std::vector<TensorSpec> out_;
};

// Output length of a 3x3, stride 2, padding 1 convolution.
int64_t Halve(int64_t n) { return (n - 1) / 2 + 1; }

void AudioTowerTensors(TableBuilder& b, const AudioEncoderConfig& a) {
  const AudioTowerNames n = AudioTower();
  const int64_t ds = a.downsample_hidden_size, d = a.d_model;
  b.Add(n.conv1 + ".weight", {ds, 1, 3, 3}, Init::kLinear);
  b.Add(n.conv1 + ".bias", {ds}, Init::kBias);
  b.Add(n.conv2 + ".weight", {ds, ds, 3, 3}, Init::kLinear);
  b.Add(n.conv2 + ".bias", {ds}, Init::kBias);
  b.Add(n.conv3 + ".weight", {ds, ds, 3, 3}, Init::kLinear);
  b.Add(n.conv3 + ".bias", {ds}, Init::kBias);
  const int64_t freq = Halve(Halve(Halve(a.num_mel_bins)));
  b.Linear(n.conv_out, d, ds * freq);
  for (int64_t l = 0; l < a.encoder_layers; ++l) {
    const AudioLayerNames q = AudioLayer(l);
    for (const std::string* proj : {&q.q_proj, &q.k_proj, &q.v_proj, &q.out_proj}) {
      b.Linear(*proj, d, d, /*bias=*/true);
    }
    b.LayerNorm(q.attn_norm, d);
    b.Linear(q.fc1, a.encoder_ffn_dim, d, true);
    b.Linear(q.fc2, d, a.encoder_ffn_dim, true);
    b.LayerNorm(q.final_norm, d);
  }
  b.LayerNorm(n.ln_post, d);
  b.Linear(n.proj1, d, d, true);
  b.Linear(n.proj2, a.output_dim, d, true);
}

void Vision(TableBuilder& b, const VisionEncoderConfig& v) {
  const VisionTowerNames n = VisionTower();
  const int64_t h = v.hidden_size;
  b.Add(n.patch_embed + ".weight",
        {h, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, Init::kLinear);
  b.Add(n.patch_embed + ".bias", {h}, Init::kBias);
  b.Add(n.pos_embed + ".weight", {v.num_position_embeddings, h}, Init::kEmbedding);
  for (int64_t i = 0; i < v.depth; ++i) {
    const VisionBlockNames q = VisionBlock(i);
    b.LayerNorm(q.norm1, h);
    b.LayerNorm(q.norm2, h);
    b.Linear(q.qkv, 3 * h, h, true);
    b.Linear(q.proj, h, h, true);
    b.Linear(q.fc1, v.intermediate_size, h, true);
    b.Linear(q.fc2, h, v.intermediate_size, true);
  }
  const int64_t merged = h * v.spatial_merge_size * v.spatial_merge_size;
  auto merger = [&](int64_t k, int64_t ln_width) {
    const VisionMergerNames q = VisionMerger(k);
    b.LayerNorm(q.ln_q, ln_width);
    b.Linear(q.fc1, merged, merged, true);
    b.Linear(q.fc2, v.out_hidden_size, merged, true);
  };
  merger(-1, h);
  for (size_t k = 0; k < v.deepstack_visual_indexes.size(); ++k) {
    merger(static_cast<int64_t>(k), merged);
  }
}

void Talker(TableBuilder& b, const ModelConfig& config) {
  const TalkerConfig& t = config.talker;
  const DecoderConfig& c = t.text;
  const DecoderStackNames n = StackNames(config, Component::kTalker);
  b.Add(n.embed, {c.vocab_size, c.hidden_size}, Init::kEmbedding);
  b.Layers(n.prefix, c);
  b.Add(n.norm, {c.hidden_size}, Init::kNormWeight);
  b.Add(n.head, {c.vocab_size, c.hidden_size}, Init::kLinear);
  for (const char* proj : {"talker.text_projection.", "talker.hidden_projection."}) {
    b.Linear(std::string(proj) + "linear_fc1", c.intermediate_size, t.thinker_hidden_size, true);
    b.Linear(std::string(proj) + "linear_fc2", c.hidden_size, c.intermediate_size, true);
  }
  const DecoderConfig& cp = t.code_predictor;
  const std::string p = "talker.code_predictor.";
  for (int64_t g = 0; g + 1 < t.num_code_groups; ++g) {
    b.Add(fmt::format("{}model.codec_embedding.{}.weight", p, g), {cp.vocab_size, cp.hidden_size},
          Init::kEmbedding);
  }
  b.Layers(p + "model.", cp);
  b.Norm(p + "model.norm", cp.hidden_size);
  for (int64_t g = 0; g + 1 < t.num_code_groups; ++g) {
    b.Linear(fmt::format("{}lm_head.{}", p, g), cp.vocab_size, cp.hidden_size);
  }
}

void Code2Wav(TableBuilder& b, const Code2WavConfig& w) {
  const int64_t h = w.hidden_size;
  b.Add("code2wav.code_embedding.weight", {w.codebook_size * w.num_quantizers, h},
        Init::kEmbedding);
  for (int64_t l = 0; l < w.num_layers; ++l) {
    const std::string q = fmt::format("code2wav.pre_transformer.layers.{}.", l);
    b.Linear(q + "self_attn.q_proj", w.num_heads * w.head_dim, h);
    b.Linear(q + "self_attn.k_proj", w.num_kv_heads * w.head_dim, h);
    b.Linear(q + "self_attn.v_proj", w.num_kv_heads * w.head_dim, h);
    b.Linear(q + "self_attn.o_proj", h, w.num_heads * w.head_dim);
    b.Linear(q + "mlp.gate_proj", w.intermediate_size, h);
    b.Linear(q + "mlp.up_proj", w.intermediate_size, h);
    b.Linear(q + "mlp.down_proj", h, w.intermediate_size);
    b.Norm(q + "input_layernorm", h);
    b.Norm(q + "post_attention_layernorm", h);
    b.Add(q + "self_attn_layer_scale.scale", {h}, Init::kLayerScale);
    b.Add(q + "mlp_layer_scale.scale", {h}, Init::kLayerScale);
  }
  b.Norm("code2wav.pre_transformer.norm", h);
  for (size_t u = 0; u < w.upsampling_ratios.size(); ++u) {
    const std::string q = fmt::format("code2wav.upsample.{}.", u);
    const int64_t r = w.upsampling_ratios[u];
    b.Add(q + "0.conv.weight", {h, h, r}, Init::kLinear, h);
    b.Add(q + "0.conv.bias", {h}, Init::kBias);
    b.Add(q + "1.dwconv.conv.weight", {h, 1, 7}, Init::kLinear);
    b.Add(q + "1.dwconv.conv.bias", {h}, Init::kBias);
    b.LayerNorm(q + "1.norm", h);
    b.Linear(q + "1.pwconv1", 4 * h, h, true);
    b.Linear(q + "1.pwconv2", h, 4 * h, true);
    b.Add(q + "1.gamma", {h}, Init::kLayerScale);
  }
  auto snake = [&](const std::string& q, int64_t ch) {
    b.Add(q + "alpha", {ch}, Init::kLogScale);
    b.Add(q + "beta", {ch}, Init::kLogScale);
  };
  auto conv = [&](const std::string& q, int64_t out, int64_t in, int64_t k) {
    b.Add(q + "conv.weight", {out, in, k}, Init::kLinear);
    b.Add(q + "conv.bias", {out}, Init::kBias);
  };
  conv("code2wav.decoder.0.", w.decoder_dim, h, 7);
  int64_t ch = w.decoder_dim;
  for (size_t d = 0; d < w.upsample_rates.size(); ++d) {
    const std::string q = fmt::format("code2wav.decoder.{}.block.", d + 1);
    const int64_t out = ch / 2, r = w.upsample_rates[d];
    snake(q + "0.", ch);
    b.Add(q + "1.conv.weight", {ch, out, 2 * r}, Init::kLinear, ch * 2);
    b.Add(q + "1.conv.bias", {out}, Init::kBias);
    for (int unit = 2; unit <= 4; ++unit) {
      const std::string u = fmt::format("{}{}.", q, unit);
      snake(u + "act1.", out);
      conv(u + "conv1.", out, out, 7);
      snake(u + "act2.", out);
      conv(u + "conv2.", out, out, 1);
    }
    ch = out;
  }
  const size_t n = w.upsample_rates.size();
  snake(fmt::format("code2wav.decoder.{}.", n + 1), ch);
  // The output conv is drawn 100× smaller than fan-in scaling: the signal reaching it has a
  // standard deviation ~10 in generated weights, and a waveform that is mostly clamped to ±1
  // would hide differences in a comparison.
  const std::string out = fmt::format("code2wav.decoder.{}.", n + 2);
  b.Add(out + "conv.weight", {1, ch, 7}, Init::kLinear, ch * 7 * 10000);
  b.Add(out + "conv.bias", {1}, Init::kBias);
}

}  // namespace

std::vector<TensorSpec> ModelTensors(const ModelConfig& config, ExpertLayout layout) {
  TableBuilder b(layout);
  const DecoderConfig& t = config.text;
  auto text_stack = [&](Component c) {
    const DecoderStackNames n = StackNames(config, c);
    b.Add(n.embed, {t.vocab_size, t.hidden_size}, Init::kEmbedding);
    b.Layers(n.prefix, t);
    b.Add(n.norm, {t.hidden_size}, Init::kNormWeight);
    if (!n.head.empty()) b.Add(n.head, {t.vocab_size, t.hidden_size}, Init::kLinear);
  };
  if (config.arch == Arch::kQwen3Moe) {
    text_stack(Component::kText);
    return b.Take();
  }
  AudioTowerTensors(b, config.audio);
  Vision(b, config.vision);
  text_stack(Component::kThinker);
  if (config.has_talker) {
    Talker(b, config);
    Code2Wav(b, config.code2wav);
  }
  return b.Take();
}

}  // namespace omnisage

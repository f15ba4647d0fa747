// The tensor-name table: every tensor of every supported architecture, declared once.
//
// ModelTensors() expands a ModelConfig into the full list of checkpoint tensors (names exactly as
// in the Hugging Face files, shapes [out, in] PyTorch-style). It drives the generator (synth),
// completeness checks, and later extraction and loading. ClassifyTensor() reads the same naming
// scheme backwards: which component a tensor belongs to, and whether it is a routed expert's weight
// (and which layer/expert/projection) or a router. Classification works on names alone, so it also
// places tensors this table does not know (quantization scales, extra buffers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "tensor/dtype.h"

namespace omnisage {

enum class Component : uint8_t {
  kText,           // qwen3_moe: the whole model
  kThinker,        // thinker.model.*, thinker.lm_head.*
  kAudioTower,     // thinker.audio_tower.*
  kVision,         // thinker.visual.*
  kTalker,         // talker.* except the code predictor
  kCodePredictor,  // talker.code_predictor.*
  kCode2Wav,       // code2wav.*
  kOther,          // anything else
};
inline constexpr int kNumComponents = 8;
std::string_view ComponentName(Component c);

enum class TensorRole : uint8_t {
  kDense,   // always resident: attention, norms, embeddings, heads, encoders, shared experts
  kRouter,  // mlp.gate.weight: [num_experts, hidden]
  kExpert,  // a routed expert's weight (per-expert 2-D, or fused 3-D holding all experts)
};

enum class ExpertProj : uint8_t { kNone, kGate, kUp, kDown, kGateUp };

struct TensorKind {
  Component component = Component::kOther;
  TensorRole role = TensorRole::kDense;
  int layer = -1;   // decoder layer, when the name has one
  int expert = -1;  // expert index for per-expert tensors; -1 for fused tensors (all experts)
  ExpertProj proj = ExpertProj::kNone;

  bool fused() const { return role == TensorRole::kExpert && expert < 0; }
};

TensorKind ClassifyTensor(std::string_view name);

// Whether `extract --quant-dense` stores this dense tensor in int8 (ops/quant.h, per row): the
// projections of every decoder stack's layers (thinker or qwen3_moe text, talker, code
// predictor: q/k/v/o_proj, the dense MLP's and the talker's shared expert's gate/up/down_proj)
// and the thinker's (qwen3_moe's) lm_head — the weights MoeDecoder and TextModel multiply with
// ops::MatMulQuant — when BF16 [out, in] with `in` a multiple of kQ8Block. Routers, norms,
// embeddings, the encoders, code2wav and the talker's and code predictor's heads stay as they are.
bool QuantizedByQuantDense(std::string_view name, DType dtype, const std::vector<int64_t>& shape);

// How the generator initialises a tensor (see synth.h).
enum class Init : uint8_t {
  kLinear,      // uniform, variance 1/fan_in
  kRouter,      // uniform, wider than kLinear so routing is decisive
  kEmbedding,   // uniform, variance ~1
  kNormWeight,  // 1 + small noise
  kBias,        // small noise around 0
  kLayerScale,  // small positive constant + noise (code2wav layer scales)
  kLogScale,    // SnakeBeta log-alpha / log-beta: small noise around 0
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kBF16;
  Init init = Init::kLinear;
  int64_t fan_in = 1;

  uint64_t numel() const;
  uint64_t nbytes() const { return numel() * DTypeSize(dtype); }
};

enum class ExpertLayout {
  kPerExpert,  // mlp.experts.E.{gate,up,down}_proj.weight, as the official files
  kFused,      // mlp.experts.gate_up_proj [E, 2I, H] and mlp.experts.down_proj [E, H, I]
};

// Names of one decoder layer's tensors ("<stack prefix>layers.<N>.…"), shared by the table and the
// model loader so each name is spelled once.
struct DecoderLayerNames {
  std::string input_norm, q_proj, k_proj, v_proj, o_proj, q_norm, k_norm, post_norm;
  std::string router;                                                   // MoE layers
  std::string mlp_gate, mlp_up, mlp_down;                               // dense MLP layers
  std::string shared_gate, shared_up, shared_down, shared_expert_gate;  // talker
  std::string experts_prefix;                                           // "…mlp.experts."

  // "…mlp.experts.<e>.{gate,up,down}_proj.weight"
  std::string Expert(int64_t e, ExpertProj proj) const;
};
DecoderLayerNames LayerNames(const std::string& stack_prefix, int64_t layer);

// A decoder stack's own tensors.
struct DecoderStackNames {
  std::string prefix;  // "thinker.model.", "model.", "talker.model."
  std::string embed;   // token (or codec) embedding
  std::string norm;    // final norm
  std::string head;    // lm_head / codec_head; empty when tied to the embedding
};
// For Component::kThinker / kText (and, later, kTalker).
DecoderStackNames StackNames(const ModelConfig& config, Component c);
// The code predictor's decoder layers ("<prefix>layers.<N>.…"; its embeddings and heads are one
// per code group, named by speech/code_predictor.cc).
inline constexpr std::string_view kCodePredictorStackPrefix = "talker.code_predictor.model.";

// The audio tower's modules ("thinker.audio_tower.…"), shared by the table and the encoder's
// loader; a module's tensors are "<module>.weight" and, where it has one, "<module>.bias".
struct AudioTowerNames {
  std::string conv1, conv2, conv3;  // Conv2d 3x3 stride 2: weight [out, in, 3, 3], bias [out]
  std::string conv_out;             // Linear, no bias
  std::string ln_post, proj1, proj2;
};
AudioTowerNames AudioTower();
// Layer L of the audio encoder: attention projections (with biases), its LayerNorms, the MLP.
struct AudioLayerNames {
  std::string q_proj, k_proj, v_proj, out_proj, attn_norm, fc1, fc2, final_norm;
};
AudioLayerNames AudioLayer(int64_t layer);

// The vision tower's modules ("thinker.visual.…"), shared by the table and the encoder's loader;
// a module's tensors are "<module>.weight" and "<module>.bias".
struct VisionTowerNames {
  std::string patch_embed;  // Conv3d [hidden, C, T, P, P]
  std::string pos_embed;    // Embedding [side², hidden] (weight only)
};
VisionTowerNames VisionTower();
// Block B: its LayerNorms, the fused q|k|v and output projections, the MLP.
struct VisionBlockNames {
  std::string norm1, norm2, qkv, proj, fc1, fc2;
};
VisionBlockNames VisionBlock(int64_t block);
// A patch merger: the final one ("merger.", k < 0) or deepstack merger k ("merger_list.k.").
struct VisionMergerNames {
  std::string ln_q, fc1, fc2;  // fc1 = mlp.0, fc2 = mlp.2
};
VisionMergerNames VisionMerger(int64_t k);

// One expert's share of a fused expert tensor: [E, 2I, H] gate_up_proj splits into gate_proj
// and up_proj [I, H] per expert, [E, H, I] down_proj into down_proj [H, I]. Parts come expert by
// expert, in storage order, so element ranges are contiguous and ascending.
struct FusedExpertPart {
  int64_t expert = 0;
  std::string name;            // the per-expert name, "…mlp.experts.<e>.gate_proj.weight"
  std::vector<int64_t> shape;  // 2-D
  uint64_t first = 0;          // first element within the fused tensor
  uint64_t numel = 0;
};
// The parts of fused expert tensor `name`; empty when `name` is not one, or `shape` is not
// [experts > 0, rows, cols] with rows even for gate_up_proj.
std::vector<FusedExpertPart> FusedExpertParts(std::string_view name,
                                              const std::vector<int64_t>& shape);

// All tensors of a checkpoint of this configuration, in the order the official files store them
// (audio, vision, thinker text, talker, code predictor, code2wav).
std::vector<TensorSpec> ModelTensors(const ModelConfig& config,
                                     ExpertLayout layout = ExpertLayout::kPerExpert);

}  // namespace omnisage

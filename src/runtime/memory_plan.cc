#include "runtime/memory_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "audio/audio_activations.h"
#include "experts/cached_experts.h"
#include "model/activations.h"
#include "model/kv_cache.h"
#include "model/tensor_table.h"
#include "ops/quant.h"
#include "speech/code2wav.h"
#include "util/units.h"
#include "vision/vision_activations.h"

namespace omnisage {
namespace {

constexpr uint64_t kFloat = sizeof(float);
// Rows the talker's prompt holds beyond the thinker's input: the 9 assistant rows (spec §8.2)
// and a margin.
constexpr int64_t kTalkerExtraRows = 16;
// The largest frame the image processor makes: max_pixels 12,845,056 in 16×16 patches.
constexpr int64_t kMaxFramePatches = 12845056 / (16 * 16);

// The dense format of the decoder stack a component's layers belong to (bf16 outside them).
WeightFormat DenseFormat(const ModelConfig& config, Component c) {
  switch (c) {
    case Component::kText:
    case Component::kThinker:
      return config.text.dense_format;
    case Component::kTalker:
      return config.talker.text.dense_format;
    case Component::kCodePredictor:
      return config.talker.code_predictor.dense_format;
    default:
      return WeightFormat::kBf16;
  }
}

// Dense bytes per component: every tensor of the configuration that is not a routed expert, as
// the loaders hold them (bfloat16, or int8 where the stack's dense_format says so).
std::array<uint64_t, kNumComponents> DenseBytes(const ModelConfig& config) {
  std::array<uint64_t, kNumComponents> bytes{};
  for (const TensorSpec& t : ModelTensors(config)) {
    const TensorKind kind = ClassifyTensor(t.name);
    if (kind.role == TensorRole::kExpert) continue;
    const WeightFormat f = DenseFormat(config, kind.component);
    bytes[static_cast<int>(kind.component)] +=
        f != WeightFormat::kBf16 && QuantizedByQuantDense(t.name, t.dtype, t.shape)
            ? LayoutOf(f, t.shape[0], t.shape[1], 0).total()
            : t.nbytes();
  }
  return bytes;
}

uint64_t Dense(const std::array<uint64_t, kNumComponents>& b, Component c) {
  return b[static_cast<int>(c)];
}

// The largest conv weight of code2wav: its loader holds a packed copy of one at a time.
uint64_t LargestCode2WavConv(const ModelConfig& config) {
  uint64_t largest = 0;
  for (const TensorSpec& t : ModelTensors(config)) {
    const TensorKind kind = ClassifyTensor(t.name);
    if (kind.component != Component::kCode2Wav || t.shape.size() != 3) continue;
    largest = std::max(largest, t.nbytes());
  }
  return largest;
}

void Add(MemoryLimitPlan* plan, std::string name, std::optional<MemoryKind> kind, uint64_t bytes,
         bool encoder = false) {
  plan->items.push_back({std::move(name), kind, bytes, encoder});
}

}  // namespace

uint64_t RuntimeOverheadBytes(const ModelConfig& config) {
  // The binary and its libraries, the heap's small objects and slack, thread stacks in use:
  // 96 MiB; the tokenizer's tables: about 320 bytes per vocabulary entry.
  return (uint64_t{96} << 20) + static_cast<uint64_t>(config.text.vocab_size) * 320;
}

MemoryLimitPlan PlanItems(const ModelConfig& c, const MemoryPlanInput& in) {
  MemoryLimitPlan plan;
  const bool omni = c.arch == Arch::kQwen3OmniMoe;
  const MemoryNeeds needs{.audio = omni && in.needs.audio,
                          .vision = omni && in.needs.vision,
                          .speech = omni && c.has_talker && in.needs.speech};
  const auto dense = DenseBytes(c);
  const int workers = std::max(1, in.threads);
  const int64_t ctx = std::max<int64_t>(1, in.context);
  const DecoderConfig& text = c.text;
  const int k = in.max_experts_per_token > 0 ? in.max_experts_per_token
                                             : static_cast<int>(text.num_experts_per_tok);

  // The thinker (or the whole qwen3_moe model).
  // With the embeddings on disk the table is not held (unless it is also the lm_head).
  const uint64_t table = in.embeddings_on_disk && !text.tie_word_embeddings
                             ? static_cast<uint64_t>(text.vocab_size) * text.hidden_size * 2
                             : 0;
  Add(&plan, omni ? "thinker weights" : "model weights", MemoryKind::kDense,
      Dense(dense, omni ? Component::kThinker : Component::kText) - table);
  Add(&plan, "thinker KV cache", MemoryKind::kKvCache,
      static_cast<uint64_t>(std::max(1, in.sessions)) *
          KvCache::BytesFor(text.num_layers, ctx, text.num_kv_heads * text.head_dim));
  // A prompt of the whole context in one forward pass, and each session's logits.
  Add(&plan, "thinker activations", MemoryKind::kActivations,
      DecoderActivations::BytesFor(text, ctx, ctx, k, workers, in.contributions) +
          static_cast<uint64_t>(std::max(1, in.sessions)) * text.vocab_size * kFloat);
  // The encoders' rows in the prompt: at most a context of them, each with its deepstack levels.
  if (needs.audio || needs.vision) {
    const int64_t levels =
        needs.vision ? static_cast<int64_t>(c.vision.deepstack_visual_indexes.size()) : 0;
    Add(&plan, "media embeddings", std::nullopt,
        static_cast<uint64_t>(ctx) * text.hidden_size * (1 + levels) * kFloat);
  }
  if (needs.audio) {
    const AudioEncoderConfig& a = c.audio;
    Add(&plan, std::string(kAudioEncoderWeights), MemoryKind::kDense,
        Dense(dense, Component::kAudioTower), true);
    Add(&plan, "audio encoder activations", MemoryKind::kActivations,
        AudioEncoderActivations::BytesFor(a, 2 * a.n_window, workers), true);
  }
  if (needs.vision) {
    const VisionEncoderConfig& v = c.vision;
    // The position table is held widened to float32 (its bf16 tensor only while loading).
    Add(&plan, std::string(kVisionEncoderWeights), MemoryKind::kDense,
        Dense(dense, Component::kVision) + v.num_position_embeddings * v.hidden_size * kFloat,
        true);
    const int64_t group = v.spatial_merge_size * v.spatial_merge_size;
    const int64_t frame = std::min(kMaxFramePatches, std::max<int64_t>(1, group) * ctx);
    Add(&plan, "vision encoder activations", MemoryKind::kActivations,
        VisionEncoderActivations::BytesFor(v, frame, workers), true);
  }
  if (needs.speech) {
    const DecoderConfig& t = c.talker.text;
    const DecoderConfig& cp = c.talker.code_predictor;
    const int64_t rows = ctx + kTalkerExtraRows, capacity = rows + in.speak_max_frames;
    Add(&plan, std::string(kTalkerWeights), MemoryKind::kDense, Dense(dense, Component::kTalker));
    Add(&plan, std::string(kCodePredictorWeights), MemoryKind::kDense,
        Dense(dense, Component::kCodePredictor));
    // While loading, one conv weight is held twice (its packed copy).
    Add(&plan, std::string(kCode2WavWeights), MemoryKind::kDense,
        Dense(dense, Component::kCode2Wav) + LargestCode2WavConv(c));
    Add(&plan, "talker KV cache", MemoryKind::kKvCache,
        KvCache::BytesFor(t.num_layers, capacity, t.num_kv_heads * t.head_dim) +
            KvCache::BytesFor(cp.num_layers, c.talker.num_code_groups,
                              cp.num_kv_heads * cp.head_dim));
    // The talker's prompt in one pass and its projections; the thinker's hidden rows it reads
    // (every prompt row while the prompt runs); the code predictor's buffers.
    Add(&plan, "talker activations", MemoryKind::kActivations,
        DecoderActivations::BytesFor(t, rows, capacity, static_cast<int>(t.num_experts_per_tok),
                                     workers, false) +
            static_cast<uint64_t>(rows) * t.intermediate_size * kFloat +
            static_cast<uint64_t>(ctx) * text.hidden_size * kFloat +
            DecoderActivations::BytesFor(cp, 2, c.talker.num_code_groups, 0, workers, false) +
            (cp.hidden_size + cp.vocab_size) * kFloat);
    Add(&plan, "code2wav activations", MemoryKind::kActivations,
        Code2Wav::ActivationBytesFor(c.code2wav, in.speak_chunk + Code2Wav::kLeftContext, workers));
  }
  // One aligned buffer per reading thread (the loading thread and the I/O threads) with O_DIRECT.
  if (in.io == ReadMode::kDirect) {
    Add(&plan, "I/O buffers", std::nullopt,
        static_cast<uint64_t>(in.io_threads + 1) * kDirectChunkBytes);
  }
  Add(&plan, "runtime", std::nullopt, RuntimeOverheadBytes(c));

  for (const MemoryPlanItem& item : plan.items) {
    plan.fixed_bytes += item.bytes;
    if (!item.ledger) plan.off_ledger_bytes += item.bytes;
    if (item.encoder) plan.encoder_bytes += item.bytes;
  }
  plan.thinker_expert_bytes = CachedExperts::TotalExpertBytes(text);
  plan.expert_minimum = plan.thinker_expert_bytes > 0 ? CachedExperts::MinimumBudget(text) : 0;
  if (needs.speech) {
    plan.talker_expert_bytes = CachedExperts::TotalExpertBytes(c.talker.text);
    if (plan.talker_expert_bytes > 0) {
      plan.expert_minimum =
          std::max(plan.expert_minimum, CachedExperts::MinimumBudget(c.talker.text));
    }
  }
  return plan;
}

StatusOr<MemoryLimitPlan> PlanMemory(const ModelConfig& config, const MemoryPlanInput& input,
                                     uint64_t limit) {
  MemoryLimitPlan plan = PlanItems(config, input);
  plan.limit = limit;
  if (limit < plan.minimum_limit()) {
    // At the minimum the encoders, when there are any, are released after the encoding: the
    // rest is held throughout, and the larger of the encoders and the experts' minimum shares
    // one room.
    const bool release = plan.encoder_bytes > 0;
    std::vector<MemoryPlanItem> largest;
    for (const MemoryPlanItem& i : plan.items) {
      if (!release || !i.encoder) largest.push_back(i);
    }
    std::stable_sort(largest.begin(), largest.end(),
                     [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
    std::string parts;
    for (size_t i = 0; i < std::min<size_t>(largest.size(), 4); ++i) {
      parts +=
          fmt::format("{}{} {}", i > 0 ? ", " : "", largest[i].name, FormatBytes(largest[i].bytes));
    }
    const std::string experts = fmt::format("{} for the experts (one token's experts of a layer)",
                                            FormatBytes(plan.expert_minimum));
    const std::string room =
        !release ? experts
                 : fmt::format(
                       "the larger of {} for the encoders (loaded for a prompt's media, "
                       "released after) and {}",
                       FormatBytes(plan.encoder_bytes), experts);
    return ResourceExhausted(fmt::format(
        "--memory {} is below the minimum of {} ({} bytes) for this request: {} of weights, "
        "caches and buffers held throughout (largest: {}) and {}; `omnisage inspect MODEL "
        "--memory SIZE` prints the plan",
        FormatBytes(limit), FormatBytes(plan.minimum_limit()), plan.minimum_limit(),
        FormatBytes(plan.fixed_bytes - (release ? plan.encoder_bytes : 0)), parts, room));
  }
  if (limit < plan.resident_minimum_limit()) {
    plan.encoders_released = true;
    plan.fixed_bytes -= plan.encoder_bytes;
  }
  plan.expert_budget = std::min(limit - plan.fixed_bytes, plan.total_expert_bytes());
  plan.encoding_expert_budget =
      plan.encoders_released
          ? std::min(plan.expert_budget, limit - plan.fixed_bytes - plan.encoder_bytes)
          : plan.expert_budget;
  return plan;
}

std::string FormatMemoryPlan(const MemoryLimitPlan& plan) {
  std::string out = fmt::format("{:<28} {:>12} {:>8}  {}\n", "item", "bytes", "share", "ledger");
  const double whole = plan.limit > 0 ? static_cast<double>(plan.limit) : 1.0;
  auto row = [&](const std::string& name, uint64_t bytes, std::string_view ledger) {
    out += fmt::format("{:<28} {:>12} {:>7.1f}%  {}\n", name, FormatBytes(bytes),
                       100.0 * static_cast<double>(bytes) / whole, ledger);
  };
  for (const MemoryPlanItem& item : plan.items) {
    row(item.name + (item.encoder && plan.encoders_released ? " *" : ""), item.bytes,
        item.ledger ? MemoryKindName(*item.ledger) : "-");
  }
  const uint64_t total_experts = plan.total_expert_bytes();
  row(fmt::format("experts ({:.1f}% of {})",
                  total_experts > 0 ? 100.0 * static_cast<double>(plan.expert_budget) /
                                          static_cast<double>(total_experts)
                                    : 0.0,
                  FormatBytes(total_experts)),
      plan.expert_budget, MemoryKindName(MemoryKind::kExpertCache));
  const uint64_t used = plan.fixed_bytes + plan.expert_budget;
  if (plan.limit > used) row("unused (every expert fits)", plan.limit - used, "-");
  out += fmt::format("{:<28} {:>12}\n", "limit", FormatBytes(plan.limit));
  if (plan.encoders_released) {
    out += fmt::format(
        "* released after each prompt's encoding: the expert cache gives up their {} while they "
        "encode (with them kept loaded the limit would be {} at least)\n",
        FormatBytes(plan.encoder_bytes), FormatBytes(plan.resident_minimum_limit()));
  }
  out += fmt::format("smallest limit for this request: {} ({} of experts at least)\n",
                     FormatBytes(plan.minimum_limit()), FormatBytes(plan.expert_minimum));
  return out;
}

nlohmann::ordered_json MemoryPlanJson(const MemoryLimitPlan& plan) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const MemoryPlanItem& item : plan.items) {
    items.push_back({{"name", item.name},
                     {"ledger", item.ledger ? std::string(MemoryKindName(*item.ledger)) : ""},
                     {"bytes", item.bytes},
                     {"released_after_encoding", item.encoder && plan.encoders_released}});
  }
  return {{"limit_bytes", plan.limit},
          {"items", items},
          {"fixed_bytes", plan.fixed_bytes},
          {"expert_budget_bytes", plan.expert_budget},
          {"expert_minimum_bytes", plan.expert_minimum},
          {"thinker_expert_bytes", plan.thinker_expert_bytes},
          {"talker_expert_bytes", plan.talker_expert_bytes},
          {"ledger_limit_bytes", plan.ledger_limit()},
          {"minimum_limit_bytes", plan.minimum_limit()},
          {"encoders_released", plan.encoders_released},
          {"encoder_bytes", plan.encoder_bytes},
          {"encoding_expert_budget_bytes", plan.encoding_expert_budget},
          {"resident_minimum_limit_bytes", plan.resident_minimum_limit()}};
}

}  // namespace omnisage

// The memory planner behind --memory: one hard cap on everything the engine holds — the dense
// weights of every component a request uses (thinker, audio and vision encoders, talker, code
// predictor, code2wav), KV caches, activations, the reading threads' I/O buffers and the runtime
// itself — with the routed experts of both MoE stacks getting what is left.
//
// PlanMemory is a pure function of the model's configuration, what the request needs and the
// run's sizes: it reads no file and allocates nothing. Each item is an upper bound on what its
// owner holds, computed with the owner's own sizing function where there is one
// (KvCache::BytesFor, DecoderActivations::BytesFor, the encoders' and code2wav's BytesFor), so a
// run under the plan never holds more than the plan's items plus the expert budget. The thinker
// and talker share one expert cache (one budget, one eviction order: CachedExperts::
// CreateSharing), so the plan gives the experts one budget, at least the larger of the two
// stacks' minimums (one token's k experts of a layer).
//
// Thread-safe: pure functions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/file.h"
#include "model/config.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

// The parts of a Qwen3-Omni model a request needs beside the thinker.
struct MemoryNeeds {
  bool audio = false;   // the audio encoder (audio in the prompt)
  bool vision = false;  // the vision encoder (images or videos)
  bool speech = false;  // talker, code predictor and code2wav (a spoken answer)
};

struct MemoryPlanInput {
  MemoryNeeds needs;
  int64_t context = 4096;  // the thinker's KV capacity per session, and the longest prompt
  int sessions = 1;        // thinker KV caches held at once (serve: --max-batch)
  int threads = 1;         // compute threads (resolved: at least 1)
  int io_threads = 2;      // expert-loading threads
  ReadMode io = ReadMode::kDirect;
  int max_experts_per_token = 0;    // 0: the config's top-k (SAGE's selector may choose more)
  bool contributions = false;       // per-expert outputs observed (SAGE's trust records)
  bool embeddings_on_disk = false;  // --embeddings disk: the thinker's table is not held
  int64_t speak_max_frames = 4095;
  int64_t speak_chunk = 25;  // code2wav's window, in codec frames, before its left context
};

// Names of the items the engine checks before it loads a component.
inline constexpr std::string_view kAudioEncoderWeights = "audio encoder weights";
inline constexpr std::string_view kVisionEncoderWeights = "vision encoder weights";
inline constexpr std::string_view kTalkerWeights = "talker weights";
inline constexpr std::string_view kCodePredictorWeights = "code predictor weights";
inline constexpr std::string_view kCode2WavWeights = "code2wav weights";

struct MemoryPlanItem {
  std::string name;                  // "thinker weights", "KV cache", …
  std::optional<MemoryKind> ledger;  // how the memory ledger counts it; none: not on the ledger
  uint64_t bytes = 0;
  // An encoder's item: needed only while a prompt's media are encoded, before the thinker runs.
  bool encoder = false;
};

struct MemoryLimitPlan {
  uint64_t limit = 0;                 // --memory, in bytes (0 in PlanItems' result)
  std::vector<MemoryPlanItem> items;  // everything but the routed experts
  uint64_t fixed_bytes = 0;           // sum of items
  uint64_t off_ledger_bytes = 0;      // sum of the items the ledger does not count
  uint64_t thinker_expert_bytes = 0;  // every routed expert of the thinker (qwen3_moe: model)
  uint64_t talker_expert_bytes = 0;   // and of the talker, when speech is needed
  uint64_t expert_minimum = 0;        // the smallest expert budget that runs
  uint64_t expert_budget = 0;         // the expert cache's budget: min(limit - fixed, all)
  // Under pressure: the encoders are loaded for each prompt's media and released after, the
  // expert cache giving up their bytes meanwhile (it runs no expert while they encode). Then
  // fixed_bytes leaves out encoder_bytes, which the expert budget covers.
  bool encoders_released = false;
  uint64_t encoder_bytes = 0;  // sum of the encoder items
  // The expert cache's budget while the encoders are loaded (released plans; else expert_budget).
  uint64_t encoding_expert_budget = 0;
  uint64_t total_expert_bytes() const { return thinker_expert_bytes + talker_expert_bytes; }
  // The smallest --memory this request runs in with the encoders kept loaded, and with them
  // released after each prompt's encoding (the smallest of all).
  uint64_t resident_minimum_limit() const {
    return (encoders_released ? fixed_bytes + encoder_bytes : fixed_bytes) + expert_minimum;
  }
  uint64_t minimum_limit() const {
    const uint64_t others = encoders_released ? fixed_bytes : fixed_bytes - encoder_bytes;
    return others + std::max(expert_minimum, encoder_bytes);
  }
  // What the memory ledger may reach: the limit less what it does not count.
  uint64_t ledger_limit() const { return limit > off_ledger_bytes ? limit - off_ledger_bytes : 0; }
};

// What the runtime holds beside the ledger's kinds and the I/O buffers: the binary, its heap,
// the tokenizer, thread stacks, small buffers (measured: docs/memory.md).
uint64_t RuntimeOverheadBytes(const ModelConfig& config);

// The items and the experts' figures of a request, without a limit (limit and expert_budget 0).
MemoryLimitPlan PlanItems(const ModelConfig& config, const MemoryPlanInput& input);

// The plan under `limit` bytes: every item held for the whole run when the limit allows it
// (resident_minimum_limit), else the encoders released after each prompt's encoding. Errors: a
// request the limit cannot hold either way (minimum_limit) is ResourceExhausted, naming the
// minimum and the largest items.
StatusOr<MemoryLimitPlan> PlanMemory(const ModelConfig& config, const MemoryPlanInput& input,
                                     uint64_t limit);

// The plan as a table (one item a line, then the experts and the total), for inspect and run.
std::string FormatMemoryPlan(const MemoryLimitPlan& plan);
nlohmann::ordered_json MemoryPlanJson(const MemoryLimitPlan& plan);

}  // namespace omnisage

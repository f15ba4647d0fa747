// The options of the runtime, each declared once (util/options.h): how an engine loads a model
// and runs its experts (EngineOptions, which embeds the expert cache's and SAGE's options), and how
// a session generates (GenerateOptions, which embeds the sampler's). The CLI's flags, their help
// and their checks all come from these declarations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experts/cached_experts.h"
#include "io/file.h"
#include "runtime/sage_controller.h"
#include "runtime/sampler.h"
#include "util/options.h"
#include "util/status.h"

namespace omnisage {

// The largest KV cache capacity --context accepts, in tokens (the model's max_position_embeddings
// bounds it further when the config gives one).
inline constexpr int64_t kMaxContext = int64_t{1} << 20;
// The most compute threads --threads accepts.
inline constexpr int kMaxThreads = 1024;

// The modes --mode accepts: "exact" (the router's top-k: output equals the unlimited run) or
// "sage" (SAGE's selection, approximate; docs/sage.md).
const std::vector<std::string>& EngineModeNames();  // {"exact", "sage"}

// The values --io accepts: how weights are read and what the reads leave in the page cache
// (io/file.h, docs/offload.md): "direct" (O_DIRECT; falls back to "drop" where the file system
// refuses it), "drop" (pread, then the pages are dropped), "cached" (pread; pages stay cached).
const std::vector<std::string>& IoModeNames();
// The values --embeddings accepts: "memory" (the thinker's token-embedding table resident) or
// "disk" (its rows read from the model file as tokens need them; model/embedding_table.h).
const std::vector<std::string>& EmbeddingsModeNames();

// The ReadMode of one of IoModeNames() (an unknown name reads as "direct").
ReadMode ParseIoMode(const std::string& name);

struct EngineOptions {
  std::string model = "";  // checkpoint directory, .safetensors file or expert store
  int threads = 0;         // 0: all cores
  int64_t context = 4096;  // KV cache capacity in tokens
  // Expert memory: empty loads every expert at start (unlimited); otherwise a hard budget for
  // the expert cache, in bytes with a unit ("2GiB") or as a percentage of the bytes of all the
  // routed experts the model runs ("25%").
  std::string budget = "";
  // One hard cap on everything (runtime/memory_plan.h): bytes with a unit ("8GiB"); the expert
  // cache gets what the plan leaves. Empty: no cap. Not with `budget`.
  std::string memory = "";
  std::string mode = "exact";         // EngineModeNames()
  std::string trace = "";             // write a routing trace here ("" → none)
  std::string io = "direct";          // IoModeNames(): every weight read, dense and expert alike
  std::string embeddings = "memory";  // EmbeddingsModeNames()
  // Eviction policy, I/O threads, prefetch; the engine sets the budget in bytes (from `budget`).
  CacheOptions cache = {};
  // State, reward, trust file ("" → <model dir>/omnisage-trust.json); the engine sets `select`.
  SageOptions sage = {};
  // Speech output will run (run/chat --speak; not a flag of its own): the talker's routed
  // experts join the thinker's under the one budget, and a percentage counts them too.
  bool speech = false;
  // Set by the commands, not flags, for the --memory plan: the encoders the runs may use, the
  // thinker KV caches held at once (serve: --max-batch), the spoken answers' sizes.
  bool audio_input = false;
  bool vision_input = false;
  int kv_sessions = 1;
  int64_t speak_max_frames = 4095;
  int64_t speak_chunk = 25;

  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(model, {.name = "model", .help = "Checkpoint directory or expert store", .required = true});
    v(threads, {.name = "threads", .help = "Threads (0: all cores)", .min = 0, .max = kMaxThreads});
    v(context, {.name = "context",
                .help = "KV cache capacity in tokens (at most the model's "
                        "max_position_embeddings)",
                .min = 1,
                .max = static_cast<double>(kMaxContext)});
    v(budget, {.name = "budget",
               .help = "Hard cap on expert memory: bytes with a unit (2GiB) or a percentage of "
                       "all expert bytes (25%); default: every expert resident"});
    v(memory, {.name = "memory",
               .help = "Hard cap on all memory: weights of every component in use, KV caches, "
                       "activations, I/O buffers and experts (8GiB); the experts get what is "
                       "left (omnisage inspect MODEL --memory SIZE prints the plan)"});
    cache.ForEach(v);
    v(io, {.name = "io",
           .help = "How weights are read: direct (O_DIRECT, nothing left in the page cache), "
                   "drop (pread, then drop the pages read) or cached (pread, pages stay cached)",
           .choices = &IoModeNames()});
    v(embeddings, {.name = "embeddings",
                   .help = "The thinker's token embeddings: memory (the whole table resident) or "
                           "disk (rows read from the model file when tokens need them; same "
                           "output, the table's bytes saved)",
                   .choices = &EmbeddingsModeNames()});
    v(mode, {.name = "mode",
             .help = "exact: the router's top-k, output equals an unlimited run; sage: SAGE "
                     "selection (approximate, docs/sage.md)",
             .choices = &EngineModeNames()});
    sage.ForEach(v);
    v(trace, {.name = "trace",
              .help = "Write the routing of every token and layer here (JSON Lines; omnisage "
                      "simulate replays it)"});
  }

  // Every option against its declaration, then what one option alone cannot say: the budget's
  // and the memory limit's syntax (the limit in bytes, not a percentage, and not with
  // --budget), --state and --reward only with --mode sage. Needs no model file.
  Status Validate() const;
};

struct GenerateOptions {
  int max_tokens = 256;
  SamplerOptions sampling;
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these

  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(max_tokens, {.name = "max-tokens", .help = "Most tokens to generate per answer", .min = 1});
    sampling.ForEach(v);
  }
};

}  // namespace omnisage

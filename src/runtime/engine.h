// Engine: a loaded model ready to generate — the config, the weight source (checkpoint or expert
// store), the text model with its expert provider, and the thread pool. Session: one conversation
// over an Engine, with its KV cache, sampler and token history.
//
// Thread-safety: an Engine is shared read-only by its sessions, but its model runs one Forward at
// a time, so sessions of one engine must not generate concurrently. A Session is single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_encoder.h"
#include "audio/log_mel.h"
#include "experts/cached_experts.h"
#include "experts/trace.h"
#include "io/weight_source.h"
#include "model/config.h"
#include "model/text_model.h"
#include "runtime/media_prompt.h"
#include "runtime/memory_plan.h"
#include "runtime/options.h"
#include "runtime/sage_controller.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/memory_ledger.h"
#include "util/status.h"
#include "util/thread_pool.h"
#include "vision/image_processor.h"
#include "vision/vision_encoder.h"

namespace omnisage {

// Where trust records live by default: <model dir>/omnisage-trust.json.
std::string DefaultTrustFile(const std::string& model);

class Engine {
 public:
  // Errors: an option out of its range (EngineOptions::Validate, checked before any file is
  // opened), a context beyond the model's max_position_embeddings, and whatever loading finds.
  static StatusOr<std::unique_ptr<Engine>> Load(const EngineOptions& options);

  const ModelConfig& config() const { return config_; }
  const WeightSource& source() const { return *source_; }
  TextModel& model() { return *model_; }
  ThreadPool& pool() { return *pool_; }
  // The model directory's tokenizer, or null when it has none (then only token ids work).
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const EngineOptions& options() const { return options_; }
  double load_seconds() const { return load_seconds_; }
  // The expert cache, or null when every expert is resident (no budget).
  CachedExperts* expert_cache() { return cache_.get(); }
  // Bytes of all routed experts of the running stacks (the thinker's, and the talker's with
  // EngineOptions::speech), and the budget they run under (equal to it when unlimited).
  uint64_t total_expert_bytes() const { return total_expert_bytes_; }
  uint64_t expert_budget_bytes() const { return budget_bytes_; }
  Component component() const { return component_; }
  // The --memory plan the engine runs under (the expert budget is its), or null without one.
  const MemoryLimitPlan* memory_plan() const { return plan_ ? &*plan_ : nullptr; }
  // Under a --memory plan that releases the encoders (MemoryLimitPlan::encoders_released):
  // before a prompt's media are encoded the expert cache gives up the encoders' planned bytes
  // (no expert runs while they encode), and after it the encoders are released and the cache
  // gets its budget back. Nothing otherwise. Sessions call them around preparing a prompt.
  void BeginEncoding();
  void EndEncoding();
  // Under --memory, before loading `what`: OK when the plan holds every one of `items` (names of
  // MemoryPlanItem) and the memory ledger has room for their bytes; else ResourceExhausted
  // naming `what`. OK without --memory.
  Status CheckPlanned(std::initializer_list<std::string_view> items, std::string_view what) const;
  // The SAGE layer (sage mode, or the trust policy), else null.
  SageController* sage() { return sage_.get(); }
  // The audio encoder, loaded on first use (its weights join the ledger then). Errors: a model
  // without an audio tower, and whatever loading finds.
  StatusOr<AudioEncoder*> audio_encoder();
  // Null until audio_encoder() has loaded it.
  const AudioEncoder* loaded_audio_encoder() const { return audio_encoder_.get(); }
  // Log-mel features for the audio encoder (built on first use).
  const LogMel& log_mel();
  // The vision encoder, loaded on first use like the audio encoder. Errors: a model without a
  // vision tower (qwen3_moe, or thinker.visual.* missing), an out_hidden_size other than the
  // thinker's hidden size, and whatever loading finds.
  StatusOr<VisionEncoder*> vision_encoder();
  VisionEncoder* loaded_vision_encoder() const { return vision_encoder_.get(); }
  // The image processor's settings: the model directory's preprocessor_config.json, read on
  // first use (Qwen3-Omni's values when the file is absent; an error when it is unreadable).
  StatusOr<const ImageProcessorConfig*> image_processor();

  // Called with every routing decision of the thinker, on the forward thread, after the trace and
  // SAGE have seen it (the server's live view of the expert cache). Null removes it.
  void set_routing_listener(RoutingObserver listener);

  // Called by sessions around each forward pass and sampled token (traces, SAGE, REST).
  void BeginForward() { ++step_; }
  void AfterToken(const float* logits, int32_t token, double step_seconds);
  // Idle: waiting for the user. In sage mode the cache rests (shrinks to its floor).
  void Idle();
  // Flushes the trace and saves trust records (also done by the destructor, errors ignored).
  // Returns the first error, which Warnings() lists too.
  Status Flush();
  // The error rule: an error that would change the answer stops generation and reaches the
  // caller as a Status. What goes wrong without changing it is listed here, one line each, for
  // the run's report: a trace that could not be written (it stops at the step before the
  // failure), trust records not saved, the expert cache's warnings (CachedExperts::Warnings).
  std::vector<std::string> Warnings() const;
  ~Engine();

 private:
  Engine() = default;
  void OnRouting(const RoutingEvent& ev);

  EngineOptions options_;
  ModelConfig config_;
  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<SageController> sage_;  // outlives cache_, which reports loads to it
  std::unique_ptr<TraceWriter> trace_;
  RoutingObserver routing_listener_;
  int64_t step_ = 0;
  double last_stall_seconds_ = 0;
  Status trace_status_;  // the trace's first write error; later records are not written
  Status flush_status_;  // the last Flush's error
  std::unique_ptr<CachedExperts> cache_;  // outlives model_, which uses it
  std::unique_ptr<TextModel> model_;
  uint64_t total_expert_bytes_ = 0, budget_bytes_ = 0;
  std::optional<MemoryLimitPlan> plan_;
  bool set_ledger_limit_ = false;  // this engine set the ledger's limit (cleared when it goes)
  Component component_ = Component::kThinker;
  std::unique_ptr<Tokenizer> tokenizer_;
  double load_seconds_ = 0;
  std::unique_ptr<AudioEncoder> audio_encoder_;
  std::unique_ptr<LogMel> log_mel_;
  std::unique_ptr<VisionEncoder> vision_encoder_;
  std::unique_ptr<ImageProcessorConfig> image_processor_;
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;         // the prompt's forward pass
  double decode_seconds = 0;          // every later forward pass
  double ttft_seconds = 0;            // from the call to the first generated token
  bool stopped = false;               // ended on a stop id (else on max_tokens or the callback)
  std::vector<std::string> warnings;  // what went wrong without changing the answer (Warnings)
  double prefill_tok_s() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
  double decode_tok_s() const {
    // The first token comes from the prefill; later ones each cost one decode step.
    return decode_seconds > 0 && generated_tokens > 1 ? (generated_tokens - 1) / decode_seconds : 0;
  }
};

class Session {
 public:
  // `context`: the KV cache's capacity in tokens; 0 takes the engine's (EngineOptions::context).
  explicit Session(Engine* engine, int64_t context = 0);

  // Feeds `prompt` (after any token generated but not yet fed by the previous call) and samples
  // up to max_tokens tokens, calling on_token for each (return false to stop early). Errors:
  // OutOfRange when the prompt or the answer outgrows the KV cache (context()); the tokens fed
  // before that stay in the session (RollBack undoes them).
  StatusOr<GenerateStats> Generate(const std::vector<int32_t>& prompt,
                                   const GenerateOptions& options,
                                   const std::function<bool(int32_t)>& on_token);
  // The same for a prompt that may carry audio (media_prompt.h); GenerateStats::prompt_tokens
  // counts the expanded placeholders. Errors also name a clip that does not fit or decode.
  StatusOr<GenerateStats> Generate(const Prompt& prompt, const GenerateOptions& options,
                                   const std::function<bool(int32_t)>& on_token);

  // Generation in steps, for batches of sessions (the server): Start does what Generate does up
  // to its first sampled token (feeds the pending token and `prompt`, samples with `options`'
  // sampler) and returns it; StepBatch then feeds each session's last sampled token and samples
  // its next, all sessions in one forward pass. A session gets exactly the tokens Generate
  // gives it. The last sampled token stays pending (fed by the next Start or Generate), as after
  // Generate. Errors: those of Generate.
  StatusOr<int32_t> Start(const Prompt& prompt, const GenerateOptions& options,
                          GenerateStats* stats);
  // REQUIRES: every session Started on the same engine, none twice; `next` gets one token each.
  // Errors: a session whose context is full (OutOfRange; nothing is fed), an expert that could
  // not be loaded.
  static Status StepBatch(const std::vector<Session*>& sessions, std::vector<int32_t>* next);

  // Runs `ids` as one prompt in a fresh context and returns logits [n, vocab] of every position.
  StatusOr<std::vector<float>> EvalAll(const std::vector<int32_t>& ids);
  // The same for a prompt with audio: logits of every position of the expanded prompt
  // (history() holds its ids afterwards).
  StatusOr<std::vector<float>> EvalAll(const Prompt& prompt);

  void Reset();
  // Tokens fed to the model so far.
  const std::vector<int32_t>& history() const { return history_; }
  // The KV cache's capacity in tokens: the whole conversation must fit.
  int64_t context() const { return cache_.capacity(); }

  // A point in the conversation (mark) and the way back to it (RollBack): every token fed or
  // sampled after the mark is forgotten and the KV cache keeps only the positions before it, so
  // a message whose answer does not fit can be refused while the conversation goes on.
  struct Mark {
    size_t history = 0;
    std::vector<int32_t> pending;
    float rope_delta = 0;
  };
  Mark mark() const { return {history_.size(), pending_, rope_delta_}; }
  // REQUIRES: `m` came from mark() on this session, with no Reset or EvalAll since.
  void RollBack(const Mark& m);

 private:
  Engine* engine_;
  KvCache cache_;
  LedgerCharge kv_charge_;
  std::vector<int32_t> history_;
  std::vector<int32_t> pending_;  // sampled, not yet fed
  std::vector<float> logits_;
  // The next token's rotary position minus its cache slot: non-zero after images or videos
  // (rope_index.h), 0 for text and audio.
  float rope_delta_ = 0;
  std::vector<float> step_positions_;  // [1, 3] a decode step's (t, h, w) when rope_delta_ != 0
  std::unique_ptr<Sampler> sampler_;   // Start's, for StepBatch
};

}  // namespace omnisage

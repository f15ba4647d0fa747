#include "runtime/engine.h"

#include <fmt/format.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "experts/store.h"
#include "io/file.h"
#include "model/expert_provider.h"
#include "model/published_source.h"
#include "tokenizer/chat_template.h"
#include "util/elapsed.h"
#include "util/phase.h"
#include "util/units.h"

namespace omnisage {

StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ScopedPhase phase(Phase::kLoad);
  OMNI_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  OMNI_ASSIGN_OR_RETURN(e->source_,
                        OpenWeightSource(options.model, nullptr, ParseIoMode(options.io)));
  // A published AWQ / GPTQ / compressed-tensors checkpoint: its packed layers as the engine's
  // tensors (int4 experts where lossless, bf16 otherwise).
  OMNI_ASSIGN_OR_RETURN(e->source_, WrapPublishedQuant(std::move(e->source_)));
  if (e->source_->config_path().empty()) {
    return NotFound(
        fmt::format("{}: config.json not found (needed to run a model)", options.model));
  }
  OMNI_ASSIGN_OR_RETURN(e->config_, LoadModelConfig(e->source_->config_path()));
  OMNI_RETURN_IF_ERROR(DetectWeightFormats(*e->source_, &e->config_));
  if (const int64_t max_pos = e->config_.text.max_position_embeddings;
      max_pos > 0 && options.context > max_pos) {
    return OutOfRange(fmt::format(
        "--context {}: more than the model's max_position_embeddings, {} (the KV cache holds the "
        "whole conversation; give --context {} or less)",
        options.context, max_pos, max_pos));
  }
  const std::string dir = std::filesystem::path(e->source_->config_path()).parent_path().string();
  if (FileExists(dir + "/tokenizer.json") || FileExists(dir + "/vocab.json")) {
    OMNI_ASSIGN_OR_RETURN(e->tokenizer_, Tokenizer::Load(dir));
    OMNI_RETURN_IF_ERROR(CheckChatMarkers(*e->tokenizer_, FileExists(dir + "/tokenizer.json")
                                                              ? dir + "/tokenizer.json"
                                                              : dir + "/tokenizer_config.json"));
  }
  OMNI_ASSIGN_OR_RETURN(e->pool_, ThreadPool::Create(options.threads));
  const DecoderConfig& text = e->config_.text;
  e->component_ = e->config_.arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  e->total_expert_bytes_ = CachedExperts::TotalExpertBytes(text);
  if (options.speech && e->config_.has_talker) {
    e->total_expert_bytes_ += CachedExperts::TotalExpertBytes(e->config_.talker.text);
  }
  e->budget_bytes_ = e->total_expert_bytes_;
  const bool sage_mode = options.mode == "sage";
  if (sage_mode || options.cache.policy == "trust") {
    SageOptions so = options.sage;
    so.select = sage_mode;
    if (so.trust_file.empty()) so.trust_file = DefaultTrustFile(options.model);
    OMNI_ASSIGN_OR_RETURN(e->sage_, SageController::Create(text, e->component_, so));
  }
  if (!options.memory.empty()) {
    auto spec = ParseSize(options.memory);
    if (!spec.ok()) return InvalidArgument("--memory: " + spec.status().message());
    MemoryPlanInput in{.needs = {.audio = options.audio_input,
                                 .vision = options.vision_input,
                                 .speech = options.speech},
                       .context = options.context,
                       .sessions = options.kv_sessions,
                       .threads = e->pool_->num_threads(),
                       .io_threads = options.cache.io_threads,
                       .io = ParseIoMode(options.io),
                       .contributions = e->sage_ != nullptr,
                       .embeddings_on_disk = options.embeddings == "disk",
                       .speak_max_frames = options.speak_max_frames,
                       .speak_chunk = options.speak_chunk};
    if (e->sage_ != nullptr && e->sage_->selector() != nullptr) {
      in.max_experts_per_token = e->sage_->selector()->MaxExperts(
          static_cast<int>(text.num_experts_per_tok), static_cast<int>(text.num_experts));
    }
    OMNI_ASSIGN_OR_RETURN(e->plan_, PlanMemory(e->config_, in, spec->bytes));
  }
  if (!options.budget.empty() || e->plan_) {
    if (e->plan_) {
      e->budget_bytes_ = e->plan_->expert_budget;
    } else {
      auto spec = ParseSize(options.budget);
      if (!spec.ok()) return InvalidArgument("--budget: " + spec.status().message());
      e->budget_bytes_ = spec->Resolve(e->total_expert_bytes_);
    }
    CacheOptions cache_options = options.cache;
    cache_options.budget_bytes = e->budget_bytes_;
    if (SageController* sage = e->sage_.get()) {
      if (!cache_options.trust) cache_options.trust = sage->trust().Lookup();
      cache_options.on_load = [sage](uint64_t key, uint64_t bytes, double ms) {
        sage->OnLoad(key, bytes, ms);
      };
    }
    OMNI_ASSIGN_OR_RETURN(
        e->cache_, CachedExperts::Create(*e->source_, StackNames(e->config_, e->component_).prefix,
                                         e->component_, text, cache_options));
  }
  if (e->plan_) {
    // What the ledger counts may reach the plan's limit, on top of what the process held before.
    MemoryLedger& ledger = MemoryLedger::Global();
    ledger.set_limit(ledger.total() + e->plan_->ledger_limit());
    e->set_ledger_limit_ = true;
  }
  OMNI_ASSIGN_OR_RETURN(
      e->model_, TextModel::Load(*e->source_, e->config_, e->cache_.get(),
                                 options.cache.verify_checksums, options.embeddings == "disk"));
  MoeDecoder& decoder = e->model_->decoder();
  decoder.set_prefetch(options.cache.prefetch &&
                       e->cache_ != nullptr);  // nothing to fetch otherwise
  if (e->sage_ != nullptr) {
    e->sage_->AttachCache(e->cache_.get(), e->budget_bytes_);
    decoder.set_selector(e->sage_->selector());
    SageController* sage = e->sage_.get();
    decoder.set_contribution_observer(
        [sage](const ExpertContribution& c) { sage->OnContribution(c); });
  }
  if (!options.trace.empty()) {
    OMNI_ASSIGN_OR_RETURN(
        e->trace_, TraceWriter::Create(options.trace, TraceHeaderOf(e->config_, e->component_)));
  }
  if (e->sage_ != nullptr || e->trace_ != nullptr) {
    Engine* self = e.get();
    decoder.set_routing_observer([self](const RoutingEvent& ev) { self->OnRouting(ev); });
  }

  e->load_seconds_ = SecondsSince(start);
  return e;
}

std::string DefaultTrustFile(const std::string& model) {
  namespace fs = std::filesystem;
  if (fs::is_directory(model)) return (fs::path(model) / "omnisage-trust.json").string();
  return model + ".omnisage-trust.json";
}

void Engine::set_routing_listener(RoutingObserver listener) {
  routing_listener_ = std::move(listener);
  if (routing_listener_) {
    model_->decoder().set_routing_observer([this](const RoutingEvent& ev) { OnRouting(ev); });
  } else if (sage_ == nullptr && trace_ == nullptr) {
    model_->decoder().set_routing_observer(nullptr);
  }
}

void Engine::OnRouting(const RoutingEvent& ev) {
  if (sage_ != nullptr) sage_->OnRouting(ev);
  if (trace_ != nullptr && trace_status_.ok()) {
    TraceRecord r{.step = step_,
                  .pos = ev.position,
                  .component = component_,
                  .layer = ev.layer,
                  .experts = std::vector<int32_t>(ev.experts, ev.experts + ev.k),
                  .weights = std::vector<float>(ev.weights, ev.weights + ev.k)};
    trace_status_ = trace_->Append(r);
  }
  if (routing_listener_) routing_listener_(ev);
}

void Engine::AfterToken(const float* logits, int32_t token, double step_seconds) {
  if (sage_ != nullptr) {
    double stall = 0;
    if (cache_ != nullptr) {
      const double total = cache_->total_stats().stall_seconds;
      stall = total - last_stall_seconds_;
      last_stall_seconds_ = total;
    }
    sage_->AfterToken(logits, model_->vocab_size(), token,
                      step_seconds > 0 ? stall / step_seconds : 0.0);
  }
}

void Engine::Idle() {
  if (sage_ != nullptr && sage_->options().select) sage_->Rest();
}

Status Engine::Flush() {
  Status s;
  if (trace_ != nullptr && trace_status_.ok()) trace_status_ = trace_->Flush();
  if (sage_ != nullptr) s = sage_->SaveTrust();
  flush_status_ = s;
  return trace_status_.ok() ? s : trace_status_;
}

Status Engine::CheckPlanned(std::initializer_list<std::string_view> items,
                            std::string_view what) const {
  if (!plan_) return Status::Ok();
  uint64_t bytes = 0;
  for (std::string_view name : items) {
    const auto it = std::find_if(plan_->items.begin(), plan_->items.end(),
                                 [&](const MemoryPlanItem& i) { return i.name == name; });
    if (it == plan_->items.end()) {
      return ResourceExhausted(
          fmt::format("--memory {}: the plan does not hold {} (the command did not ask for it "
                      "when it loaded the model)",
                      FormatBytes(plan_->limit), what));
    }
    bytes += it->bytes;
  }
  return MemoryLedger::Global().CheckRoom(bytes, what);
}

void Engine::BeginEncoding() {
  if (!plan_ || !plan_->encoders_released || cache_ == nullptr) return;
  cache_->cache().SetCapacity(plan_->encoding_expert_budget);
}

void Engine::EndEncoding() {
  if (!plan_ || !plan_->encoders_released) return;
  audio_encoder_.reset();
  vision_encoder_.reset();
#ifdef __GLIBC__
  // The encoders' tensors came from the heap (glibc raises its mmap threshold after the first
  // large frees), so freeing them alone leaves their pages in the process: hand them back before
  // the expert cache grows into their room.
  malloc_trim(0);
#endif
  if (cache_ != nullptr) cache_->cache().SetCapacity(budget_bytes_);
}

StatusOr<AudioEncoder*> Engine::audio_encoder() {
  if (audio_encoder_ == nullptr) {
    if (config_.arch != Arch::kQwen3OmniMoe) {
      return InvalidArgument(
          fmt::format("{}: a {} model has no audio encoder", options_.model, config_.model_type));
    }
    OMNI_RETURN_IF_ERROR(CheckPlanned({kAudioEncoderWeights}, "the audio encoder"));
    OMNI_ASSIGN_OR_RETURN(audio_encoder_, AudioEncoder::Load(*source_, config_.audio));
    if (config_.audio.output_dim != config_.text.hidden_size) {
      audio_encoder_.reset();
      return InvalidArgument(
          fmt::format("{}: audio_config.output_dim {} differs from the thinker's hidden_size {}",
                      options_.model, config_.audio.output_dim, config_.text.hidden_size));
    }
  }
  return audio_encoder_.get();
}

StatusOr<VisionEncoder*> Engine::vision_encoder() {
  if (vision_encoder_ == nullptr) {
    if (config_.arch != Arch::kQwen3OmniMoe) {
      return InvalidArgument(
          fmt::format("{}: a {} model has no vision encoder (images need qwen3_omni_moe)",
                      options_.model, config_.model_type));
    }
    if (config_.vision.out_hidden_size != config_.text.hidden_size) {
      return InvalidArgument(
          fmt::format("{}: vision_config.out_hidden_size {} differs from the thinker's "
                      "hidden_size {}",
                      options_.model, config_.vision.out_hidden_size, config_.text.hidden_size));
    }
    OMNI_RETURN_IF_ERROR(CheckPlanned({kVisionEncoderWeights}, "the vision encoder"));
    auto loaded = VisionEncoder::Load(*source_, config_.vision);
    if (!loaded.ok()) {
      return Status(loaded.status().code(),
                    fmt::format("{}: the model has no usable vision tower: {}", options_.model,
                                loaded.status().message()));
    }
    vision_encoder_ = std::move(*loaded);
  }
  return vision_encoder_.get();
}

StatusOr<const ImageProcessorConfig*> Engine::image_processor() {
  if (image_processor_ == nullptr) {
    const std::string path =
        (std::filesystem::path(source_->config_path()).parent_path() / "preprocessor_config.json")
            .string();
    ImageProcessorConfig c;
    if (FileExists(path)) {
      OMNI_ASSIGN_OR_RETURN(c, LoadImageProcessorConfig(path));
    }
    image_processor_ = std::make_unique<ImageProcessorConfig>(c);
  }
  return image_processor_.get();
}

const LogMel& Engine::log_mel() {
  if (log_mel_ == nullptr) log_mel_ = std::make_unique<LogMel>(config_.audio.num_mel_bins);
  return *log_mel_;
}

std::vector<std::string> Engine::Warnings() const {
  std::vector<std::string> out;
  if (!trace_status_.ok()) {
    out.push_back(fmt::format("trace not complete, it stops before the failed write: {}",
                              trace_status_.message()));
  }
  if (!flush_status_.ok()) out.push_back("trust records not saved: " + flush_status_.message());
  if (sage_ != nullptr) {
    for (std::string& w : sage_->Warnings()) out.push_back(std::move(w));
  }
  if (cache_ != nullptr) {
    for (std::string& w : cache_->Warnings()) out.push_back(std::move(w));
  }
  return out;
}

Engine::~Engine() {
  if (trace_ != nullptr) (void)trace_->Close();
  if (sage_ != nullptr) (void)sage_->SaveTrust();
  if (set_ledger_limit_) MemoryLedger::Global().set_limit(0);
}

namespace {

// PreparePrompt between the engine's BeginEncoding and EndEncoding when the prompt has media.
StatusOr<PreparedPrompt> Prepare(Engine& engine, const std::vector<int32_t>& prefix,
                                 const Prompt& prompt, float start, int64_t room) {
  const bool media = prompt.has_media();
  if (media) engine.BeginEncoding();
  auto prepared = PreparePrompt(engine, prefix, prompt, start, room);
  if (media) engine.EndEncoding();
  return prepared;
}

// What a prepared prompt hands the model: positions and every encoder's rows.
MediaInputs Inputs(const PreparedPrompt& p) {
  MediaInputs m{p.positions.thw.data(), p.audio.data(), p.audio_rows};
  if (p.visual.tokens > 0) {
    m.visual = p.visual.embeds.data();
    m.visual_rows = p.visual.tokens;
    m.deepstack = p.visual.deepstack.data();
    m.deepstack_levels = p.visual.levels;
  }
  return m;
}

}  // namespace

Session::Session(Engine* engine, int64_t context)
    : engine_(engine),
      cache_(engine->model().NewCache(context > 0 ? context : engine->options().context)),
      kv_charge_(MemoryKind::kKvCache, cache_.bytes()),
      logits_(engine->model().vocab_size()),
      step_positions_(3) {}

void Session::Reset() {
  rope_delta_ = 0;
  cache_.Clear();
  history_.clear();
  pending_.clear();
}

void Session::RollBack(const Mark& m) {
  history_.resize(m.history);
  pending_ = m.pending;
  rope_delta_ = m.rope_delta;
  cache_.set_length(static_cast<int64_t>(m.history));
}

StatusOr<GenerateStats> Session::Generate(const std::vector<int32_t>& prompt,
                                          const GenerateOptions& options,
                                          const std::function<bool(int32_t)>& on_token) {
  return Generate(Prompt{prompt, {}}, options, on_token);
}

StatusOr<GenerateStats> Session::Generate(const Prompt& prompt, const GenerateOptions& options,
                                          const std::function<bool(int32_t)>& on_token) {
  OMNI_RETURN_IF_ERROR(ValidateOptions(options));
  const auto start = std::chrono::steady_clock::now();
  GenerateStats stats;
  // Everything that can fail on the prompt's media fails here, before the session changes.
  OMNI_ASSIGN_OR_RETURN(
      PreparedPrompt prepared,
      Prepare(*engine_, pending_, prompt, static_cast<float>(cache_.length()) + rope_delta_,
              cache_.capacity() - cache_.length()));
  const std::vector<int32_t>& feed = prepared.ids;
  pending_.clear();
  if (feed.empty()) return InvalidArgument("Generate: empty prompt");
  stats.prompt_tokens = static_cast<int64_t>(feed.size());
  TextModel& model = engine_->model();
  const int64_t vocab = model.vocab_size();
  Sampler sampler(options.sampling);
  const ScopedPhase phase(Phase::kPrefill);
  engine_->BeginForward();
  // Text after text and audio keeps the running positions: the text path, untouched.
  const bool plain = !prompt.has_media() && rope_delta_ == 0;
  const MediaInputs media = Inputs(prepared);
  OMNI_RETURN_IF_ERROR(model.Forward(feed.data(), static_cast<int64_t>(feed.size()), &cache_, false,
                                     logits_.data(), &engine_->pool(), plain ? nullptr : &media));
  history_.insert(history_.end(), feed.begin(), feed.end());
  rope_delta_ = prepared.positions.next - static_cast<float>(cache_.length());
  stats.prefill_seconds = SecondsSince(start);
  double step_seconds = stats.prefill_seconds;
  auto decode_start = std::chrono::steady_clock::now();
  SetPhase(Phase::kDecode);
  for (int i = 0; i < options.max_tokens; ++i) {
    const int32_t id = sampler.Sample(logits_.data(), vocab, history_);
    engine_->AfterToken(logits_.data(), id, step_seconds);
    stats.generated_tokens++;
    if (i == 0) {
      stats.ttft_seconds = SecondsSince(start);
      decode_start = std::chrono::steady_clock::now();
    }
    const bool keep_going = on_token(id);
    for (int32_t stop : options.stop_ids) stats.stopped |= id == stop;
    if (stats.stopped || !keep_going || i + 1 == options.max_tokens) {
      pending_.push_back(id);
      break;
    }
    const auto step_start = std::chrono::steady_clock::now();
    engine_->BeginForward();
    // After images or videos a step's position is its slot + rope_delta_ on every axis.
    std::fill(step_positions_.begin(), step_positions_.end(),
              static_cast<float>(cache_.length()) + rope_delta_);
    const MediaInputs step{step_positions_.data(), nullptr, 0};
    OMNI_RETURN_IF_ERROR(model.Forward(&id, 1, &cache_, false, logits_.data(), &engine_->pool(),
                                       rope_delta_ != 0 ? &step : nullptr));
    step_seconds = SecondsSince(step_start);
    history_.push_back(id);
  }
  stats.decode_seconds = stats.generated_tokens > 0 ? SecondsSince(decode_start) : 0;
  (void)engine_->Flush();  // its errors are among the warnings
  stats.warnings = engine_->Warnings();
  return stats;
}

StatusOr<int32_t> Session::Start(const Prompt& prompt, const GenerateOptions& options,
                                 GenerateStats* stats) {
  OMNI_RETURN_IF_ERROR(ValidateOptions(options));
  const auto start = std::chrono::steady_clock::now();
  *stats = GenerateStats{};
  OMNI_ASSIGN_OR_RETURN(
      PreparedPrompt prepared,
      Prepare(*engine_, pending_, prompt, static_cast<float>(cache_.length()) + rope_delta_,
              cache_.capacity() - cache_.length()));
  const std::vector<int32_t>& feed = prepared.ids;
  pending_.clear();
  if (feed.empty()) return InvalidArgument("Generate: empty prompt");
  stats->prompt_tokens = static_cast<int64_t>(feed.size());
  TextModel& model = engine_->model();
  sampler_ = std::make_unique<Sampler>(options.sampling);
  const ScopedPhase phase(Phase::kPrefill);
  engine_->BeginForward();
  // As Generate: the image features and their positions go with the prompt.
  const bool plain = !prompt.has_media() && rope_delta_ == 0;
  const MediaInputs media = Inputs(prepared);
  OMNI_RETURN_IF_ERROR(model.Forward(feed.data(), static_cast<int64_t>(feed.size()), &cache_, false,
                                     logits_.data(), &engine_->pool(), plain ? nullptr : &media));
  history_.insert(history_.end(), feed.begin(), feed.end());
  rope_delta_ = prepared.positions.next - static_cast<float>(cache_.length());
  stats->prefill_seconds = SecondsSince(start);
  const int32_t id = sampler_->Sample(logits_.data(), model.vocab_size(), history_);
  engine_->AfterToken(logits_.data(), id, stats->prefill_seconds);
  stats->generated_tokens = 1;
  stats->ttft_seconds = SecondsSince(start);
  pending_.push_back(id);
  return id;
}

Status Session::StepBatch(const std::vector<Session*>& sessions, std::vector<int32_t>* next) {
  next->clear();
  if (sessions.empty()) return Status::Ok();
  Engine* engine = sessions[0]->engine_;
  TextModel& model = engine->model();
  const int64_t n = static_cast<int64_t>(sessions.size()), vocab = model.vocab_size();
  thread_local std::vector<float> logits, positions;
  thread_local std::vector<int32_t> tokens;
  thread_local std::vector<KvCache*> caches;
  logits.resize(n * vocab);
  tokens.resize(n);
  caches.resize(n);
  positions.resize(3 * n);
  bool moved = false;  // a session after images: its positions are slot + rope_delta
  for (int64_t t = 0; t < n; ++t) {
    Session* s = sessions[t];
    if (s->engine_ != engine || s->pending_.size() != 1 || s->sampler_ == nullptr) {
      return Internal("StepBatch: a session that was not Started on this engine");
    }
    tokens[t] = s->pending_[0];
    caches[t] = &s->cache_;
    std::fill_n(positions.data() + 3 * t, 3,
                static_cast<float>(s->cache_.length()) + s->rope_delta_);
    moved |= s->rope_delta_ != 0;
  }
  const auto step_start = std::chrono::steady_clock::now();
  const ScopedPhase phase(Phase::kDecode);
  engine->BeginForward();
  OMNI_RETURN_IF_ERROR(model.ForwardBatch(tokens.data(), n, caches.data(), logits.data(),
                                          &engine->pool(), moved ? positions.data() : nullptr));
  const double step_seconds = SecondsSince(step_start);
  for (int64_t t = 0; t < n; ++t) {
    Session* s = sessions[t];
    s->history_.push_back(tokens[t]);
    std::copy_n(logits.data() + t * vocab, vocab, s->logits_.data());
    const int32_t id = s->sampler_->Sample(s->logits_.data(), vocab, s->history_);
    engine->AfterToken(s->logits_.data(), id, step_seconds);
    s->pending_[0] = id;
    next->push_back(id);
  }
  return Status::Ok();
}

StatusOr<std::vector<float>> Session::EvalAll(const std::vector<int32_t>& ids) {
  return EvalAll(Prompt{ids, {}});
}

StatusOr<std::vector<float>> Session::EvalAll(const Prompt& prompt) {
  Reset();
  if (prompt.ids.empty()) return InvalidArgument("eval: no token ids");
  OMNI_ASSIGN_OR_RETURN(PreparedPrompt prepared,
                        Prepare(*engine_, {}, prompt, 0.0f, cache_.capacity()));
  const std::vector<int32_t>& ids = prepared.ids;
  std::vector<float> out(ids.size() * engine_->model().vocab_size());
  const ScopedPhase phase(Phase::kPrefill);
  engine_->BeginForward();
  const MediaInputs media = Inputs(prepared);
  OMNI_RETURN_IF_ERROR(engine_->model().Forward(ids.data(), static_cast<int64_t>(ids.size()),
                                                &cache_, true, out.data(), &engine_->pool(),
                                                prompt.has_media() ? &media : nullptr));
  history_ = ids;
  rope_delta_ = prepared.positions.next - static_cast<float>(cache_.length());
  return out;
}

}  // namespace omnisage

#include "runtime/engine.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "experts/store.h"
#include "io/file.h"
#include "util/units.h"

namespace omnisage {

namespace {
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  OMNI_ASSIGN_OR_RETURN(e->source_, OpenWeightSource(options.model));
  if (e->source_->config_path().empty()) {
    return NotFound(
        fmt::format("{}: config.json not found (needed to run a model)", options.model));
  }
  OMNI_ASSIGN_OR_RETURN(e->config_, LoadModelConfig(e->source_->config_path()));
  const std::string dir = std::filesystem::path(e->source_->config_path()).parent_path().string();
  if (FileExists(dir + "/tokenizer.json") || FileExists(dir + "/vocab.json")) {
    OMNI_ASSIGN_OR_RETURN(e->tokenizer_, Tokenizer::Load(dir));
  }
  e->pool_ = std::make_unique<ThreadPool>(options.threads);
  const DecoderConfig& text = e->config_.text;
  e->component_ = e->config_.arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  e->total_expert_bytes_ = CachedExperts::TotalExpertBytes(text);
  e->budget_bytes_ = e->total_expert_bytes_;
  if (!options.budget.empty()) {
    auto spec = ParseSize(options.budget);
    if (!spec.ok()) return InvalidArgument("--budget: " + spec.status().message());
    e->budget_bytes_ = spec->Resolve(e->total_expert_bytes_);
    CacheOptions cache_options{.budget_bytes = e->budget_bytes_,
                               .policy = options.policy,
                               .trust = options.trust,
                               .io_threads = options.io_threads,
                               .prefetch = options.prefetch};
    OMNI_ASSIGN_OR_RETURN(
        e->cache_, CachedExperts::Create(*e->source_, StackNames(e->config_, e->component_).prefix,
                                         e->component_, text, cache_options));
  }
  OMNI_ASSIGN_OR_RETURN(e->model_, TextModel::Load(*e->source_, e->config_, e->cache_.get()));
  e->model_->decoder().set_prefetch(options.prefetch);
  e->dense_charge_ = LedgerCharge(MemoryKind::kDense, e->model_->dense_bytes());
  if (e->cache_ == nullptr) {
    e->resident_experts_charge_ =
        LedgerCharge(MemoryKind::kExpertCache, e->model_->experts().resident_bytes());
  }
  e->load_seconds_ = Since(start);
  return e;
}

Session::Session(Engine* engine)
    : engine_(engine),
      cache_(engine->model().NewCache(engine->options().context)),
      kv_charge_(MemoryKind::kKvCache, cache_.bytes()),
      logits_(engine->model().vocab_size()) {}

void Session::Reset() {
  cache_.Clear();
  history_.clear();
  pending_.clear();
}

StatusOr<GenerateStats> Session::Generate(const std::vector<int32_t>& prompt,
                                          const GenerateOptions& options,
                                          const std::function<bool(int32_t)>& on_token) {
  const auto start = std::chrono::steady_clock::now();
  GenerateStats stats;
  std::vector<int32_t> feed = pending_;
  feed.insert(feed.end(), prompt.begin(), prompt.end());
  pending_.clear();
  if (feed.empty()) return InvalidArgument("Generate: empty prompt");
  stats.prompt_tokens = static_cast<int64_t>(feed.size());
  TextModel& model = engine_->model();
  const int64_t vocab = model.vocab_size();
  Sampler sampler(options.sampling);
  OMNI_RETURN_IF_ERROR(model.Forward(feed.data(), static_cast<int64_t>(feed.size()), &cache_, false,
                                     logits_.data(), &engine_->pool()));
  history_.insert(history_.end(), feed.begin(), feed.end());
  stats.prefill_seconds = Since(start);
  auto decode_start = std::chrono::steady_clock::now();
  for (int i = 0; i < options.max_tokens; ++i) {
    const int32_t id = sampler.Sample(logits_.data(), vocab, history_);
    stats.generated_tokens++;
    if (i == 0) {
      stats.ttft_seconds = Since(start);
      decode_start = std::chrono::steady_clock::now();
    }
    const bool keep_going = on_token(id);
    for (int32_t stop : options.stop_ids) stats.stopped |= id == stop;
    if (stats.stopped || !keep_going || i + 1 == options.max_tokens) {
      pending_.push_back(id);
      break;
    }
    OMNI_RETURN_IF_ERROR(model.Forward(&id, 1, &cache_, false, logits_.data(), &engine_->pool()));
    history_.push_back(id);
  }
  stats.decode_seconds = stats.generated_tokens > 0 ? Since(decode_start) : 0;
  return stats;
}

StatusOr<std::vector<float>> Session::EvalAll(const std::vector<int32_t>& ids) {
  Reset();
  if (ids.empty()) return InvalidArgument("eval: no token ids");
  std::vector<float> out(ids.size() * engine_->model().vocab_size());
  OMNI_RETURN_IF_ERROR(engine_->model().Forward(ids.data(), static_cast<int64_t>(ids.size()),
                                                &cache_, true, out.data(), &engine_->pool()));
  history_ = ids;
  return out;
}

}  // namespace omnisage

// omnisage bench: load a model once, then time R generations of a fixed synthetic prompt, each in
// a fresh session, and report the median, min and max of prefill and decode speed, time to first
// token and (with --budget) what the expert cache did in each repetition. With --text the prompt
// and every decode step come from a real text (teacher forcing) instead.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "generate_flags.h"
#include "io/file.h"
#include "option_flags.h"
#include "runtime/report.h"
#include "util/elapsed.h"
#include "util/memory_ledger.h"
#include "util/proc_memory.h"
#include "util/units.h"

namespace omnisage::cli {
namespace {

struct BenchArgs {
  EngineOptions engine;
  int prompt_tokens = 128;
  int gen_tokens = 64;
  int repeat = 3;
  int warmup = 1;
  bool cold = false;
  bool json = false;
  std::string text = "";
  bool context_given = false;

  // bench's own options (util/options.h); the engine's are registered beside them.
  template <typename Visitor>
  void ForEach(Visitor&& v) {
    const double max_tokens = static_cast<double>(kMaxContext);
    v(prompt_tokens,
      {.name = "prompt-tokens", .help = "Prompt length in tokens", .min = 1, .max = max_tokens});
    v(gen_tokens, {.name = "gen-tokens",
                   .help = "Tokens to generate per repetition",
                   .min = 1,
                   .max = max_tokens});
    v(repeat, {.name = "repeat", .help = "Timed repetitions", .min = 1});
    v(warmup, {.name = "warmup", .help = "Untimed repetitions first", .min = 0, .max = 1});
    v(cold, {.name = "cold",
             .help = "Empty the expert cache before every repetition (default: keep what the "
                     "last one left, reset only the statistics)"});
    v(json, {.name = "json", .help = "Print one JSON object instead of the table"});
    v(text, {.name = "text",
             .help = "Teacher-force real text: the prompt is its first --prompt-tokens tokens, and "
                     "each decode step feeds the text's next token instead of the argmax"});
  }
};

// The prompt: `n` ids from a fixed SplitMix64 sequence, below the model's (and the tokenizer's)
// vocabulary and never an added token (<|im_start|>, <|im_end|>, ...). The same for every run of
// the same model, so other engines can be fed exactly these ids (bench --json prints them).
std::vector<int32_t> SyntheticPrompt(int n, int64_t vocab, const Tokenizer* tok) {
  int64_t limit = vocab;
  if (tok != nullptr && tok->vocab_size() > 0) limit = std::min(limit, tok->vocab_size());
  uint64_t state = 0x5eed;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  std::vector<int32_t> ids;
  ids.reserve(n);
  for (int tries = 0; static_cast<int>(ids.size()) < n && tries < 64 * n; ++tries) {
    const auto id = static_cast<int32_t>(next() % static_cast<uint64_t>(limit));
    if (tok != nullptr && tok->IsAdded(id)) continue;
    ids.push_back(id);
  }
  while (static_cast<int>(ids.size()) < n) ids.push_back(0);  // a vocabulary of added tokens only
  return ids;
}

// One repetition's figures; the cache ones are absent without a budget (or, for the load
// figures, when nothing was read from disk).
struct Rep {
  double prefill_tok_s = 0, decode_tok_s = 0, ttft_s = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  bool has_cache = false;
  ExpertCacheStats all, prefill, decode;
  std::optional<double> hit_rate, bytes_per_token, decode_bytes_per_token, load_ms, load_gb_s,
      stall_s;
};

struct Summary {
  double median = 0, min = 0, max = 0;
};

std::optional<Summary> Summarize(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return Summary{median, v.front(), v.back()};
}

std::optional<Summary> SummarizeField(const std::vector<Rep>& reps,
                                      std::optional<double> Rep::*field) {
  std::vector<double> v;
  for (const Rep& r : reps) {
    if (r.*field) v.push_back(*(r.*field));
  }
  return Summarize(std::move(v));
}

std::optional<Summary> SummarizeField(const std::vector<Rep>& reps, double Rep::*field) {
  std::vector<double> v;
  for (const Rep& r : reps) v.push_back(r.*field);
  return Summarize(std::move(v));
}

nlohmann::ordered_json ToJson(const std::optional<Summary>& s) {
  if (!s) return nullptr;
  return {{"median", s->median}, {"min", s->min}, {"max", s->max}};
}

nlohmann::ordered_json ToJson(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// The cache figures of a repetition that forwarded `prompt_tokens` then `generated - 1` single
// tokens; `after_prefill`: the statistics when the prefill ended.
void AddCacheFigures(CachedExperts* cache, const ExpertCacheStats& after_prefill, Rep& r);

// A teacher-forced repetition: the prompt as one batch, then each of `forced` as a single step,
// whatever the model predicted (the argmax is still taken, as a sampler would). The routing, and
// so the expert traffic, follows the text rather than the model's own (on random weights,
// repetitive) output.
StatusOr<Rep> RunForced(Engine& engine, const std::vector<int32_t>& prompt,
                        const std::vector<int32_t>& forced, int64_t context) {
  CachedExperts* cache = engine.expert_cache();
  TextModel& model = engine.model();
  KvCache kv = model.NewCache(context);
  const LedgerCharge kv_charge(MemoryKind::kKvCache, kv.bytes());  // as a Session charges it
  const int64_t vocab = model.vocab_size();
  std::vector<float> logits(vocab);
  auto argmax = [&] {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  const auto t0 = std::chrono::steady_clock::now();
  OMNI_RETURN_IF_ERROR(model.Forward(prompt.data(), static_cast<int64_t>(prompt.size()), &kv, false,
                                     logits.data(), &engine.pool()));
  (void)argmax();
  const double prefill_s = SecondsSince(t0);
  ExpertCacheStats after_prefill;
  if (cache != nullptr) after_prefill = cache->total_stats();
  const auto t1 = std::chrono::steady_clock::now();
  for (const int32_t id : forced) {
    OMNI_RETURN_IF_ERROR(model.Forward(&id, 1, &kv, false, logits.data(), &engine.pool()));
    (void)argmax();
  }
  const double decode_s = SecondsSince(t1);
  Rep r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.generated_tokens = static_cast<int64_t>(forced.size()) + 1;
  r.prefill_tok_s = prefill_s > 0 ? r.prompt_tokens / prefill_s : 0;
  r.decode_tok_s = decode_s > 0 ? static_cast<double>(forced.size()) / decode_s : 0;
  r.ttft_s = prefill_s;
  AddCacheFigures(cache, after_prefill, r);
  return r;
}

StatusOr<Rep> RunOnce(Engine& engine, const std::vector<int32_t>& prompt, int gen_tokens) {
  CachedExperts* cache = engine.expert_cache();
  GenerateOptions opts;
  opts.max_tokens = gen_tokens;  // greedy (the default sampler), no stop ids
  Session session(&engine);
  ExpertCacheStats after_prefill;
  bool first = true;
  auto stats = session.Generate(prompt, opts, [&](int32_t) {
    if (first && cache != nullptr) after_prefill = cache->total_stats();
    first = false;
    return true;
  });
  if (!stats.ok()) return stats.status();
  Rep r;
  r.prefill_tok_s = stats->prefill_tok_s();
  r.decode_tok_s = stats->decode_tok_s();
  r.ttft_s = stats->ttft_seconds;
  r.prompt_tokens = stats->prompt_tokens;
  r.generated_tokens = stats->generated_tokens;
  AddCacheFigures(cache, after_prefill, r);
  return r;
}

void AddCacheFigures(CachedExperts* cache, const ExpertCacheStats& after_prefill, Rep& r) {
  if (cache != nullptr) {
    cache->Drain();  // prefetches still in flight belong to this repetition
    r.has_cache = true;
    r.all = cache->total_stats();
    r.prefill = after_prefill;
    r.decode = r.all.Since(after_prefill);
    // Tokens run through the model: the prompt, then every generated token but the last.
    const int64_t forwarded = r.prompt_tokens + std::max<int64_t>(r.generated_tokens - 1, 0);
    const int64_t decoded = std::max<int64_t>(r.generated_tokens - 1, 0);
    if (r.all.accesses > 0) r.hit_rate = r.all.hit_rate();
    if (forwarded > 0) r.bytes_per_token = static_cast<double>(r.all.bytes_read) / forwarded;
    if (decoded > 0) r.decode_bytes_per_token = static_cast<double>(r.decode.bytes_read) / decoded;
    if (r.all.loads > 0 && r.all.load_seconds > 0) {
      r.load_ms = 1000 * r.all.load_seconds / r.all.loads;
      r.load_gb_s = static_cast<double>(r.all.bytes_read) / r.all.load_seconds / 1e9;
    }
    r.stall_s = r.all.stall_seconds;
  }
}

// Empties the expert cache (all but a pinned hot set) by shrinking it to nothing and back.
void EmptyCache(CachedExperts* cache) {
  const uint64_t capacity = cache->cache().capacity();
  cache->cache().SetCapacity(0);
  cache->cache().SetCapacity(capacity);
}

std::string Cell(const std::optional<Summary>& s, double scale, const char* format) {
  if (!s) return "-";
  return fmt::format(fmt::runtime(format), s->median * scale) + " (" +
         fmt::format(fmt::runtime(format), s->min * scale) + "-" +
         fmt::format(fmt::runtime(format), s->max * scale) + ")";
}

int RunBench(const BenchArgs& a, const CLI::App& sub) {
  if (Status s = CheckEngineFlags(sub, a.engine); !s.ok()) return ReportError(s.message());
  if (Status s = ValidateOptions(a); !s.ok()) return ReportError(s.message());
  EngineOptions eo = a.engine;
  const int64_t needed = static_cast<int64_t>(a.prompt_tokens) + a.gen_tokens;
  if (needed > kMaxContext) {
    return ReportError(fmt::format(
        "--prompt-tokens + --gen-tokens = {} is more than the largest context, {} tokens", needed,
        kMaxContext));
  }
  if (!a.context_given) {
    eo.context = needed;
  } else if (eo.context < needed) {
    return ReportError(fmt::format("--context {} is below --prompt-tokens + --gen-tokens = {}",
                                   eo.context, needed));
  }
  const auto wall_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return SecondsSince(wall_start); };
  std::fprintf(stderr, "bench: loading %s\n", a.engine.model.c_str());
  auto loaded = Engine::Load(eo);
  if (!loaded.ok()) return ReportError(loaded.status().message());
  Engine& engine = **loaded;
  const uint64_t load_peak_rss = PeakRssBytes();
  CachedExperts* cache = engine.expert_cache();
  std::vector<int32_t> prompt =
      SyntheticPrompt(a.prompt_tokens, engine.model().vocab_size(), engine.tokenizer());
  std::vector<int32_t> forced;  // the text's tokens after the prompt (--text)
  if (!a.text.empty()) {
    if (engine.tokenizer() == nullptr) {
      return ReportError(fmt::format("--text: {} has no tokenizer.json to tokenize {} with",
                                     a.engine.model, a.text));
    }
    auto text = ReadFileToString(a.text);
    if (!text.ok()) return ReportError(text.status().message());
    std::vector<int32_t> ids = engine.tokenizer()->Encode(*text);
    const size_t needed_ids = static_cast<size_t>(a.prompt_tokens) + a.gen_tokens - 1;
    if (ids.size() < needed_ids) {
      return ReportError(
          fmt::format("--text {}: {} tokens, fewer than --prompt-tokens + --gen-tokens - 1 = {}",
                      a.text, ids.size(), needed_ids));
    }
    prompt.assign(ids.begin(), ids.begin() + a.prompt_tokens);
    forced.assign(ids.begin() + a.prompt_tokens, ids.begin() + needed_ids);
  }
  std::fprintf(stderr, "bench: loaded in %.2f s (peak RSS %s)\n", engine.load_seconds(),
               FormatBytes(load_peak_rss).c_str());

  std::vector<Rep> reps;
  for (int i = -a.warmup; i < a.repeat; ++i) {
    if (cache != nullptr) {
      cache->Drain();
      if (a.cold) EmptyCache(cache);
      cache->ResetStats();
    }
    auto rep = a.text.empty() ? RunOnce(engine, prompt, a.gen_tokens)
                              : RunForced(engine, prompt, forced, eo.context);
    if (!rep.ok()) return ReportError(rep.status().message());
    const std::string what = i < 0 ? "warm-up" : fmt::format("rep {}/{}", i + 1, a.repeat);
    std::string line =
        fmt::format("bench: {}: prefill {:.1f} tok/s, decode {:.2f} tok/s, TTFT {:.3f} s", what,
                    rep->prefill_tok_s, rep->decode_tok_s, rep->ttft_s);
    if (rep->hit_rate) line += fmt::format(", hit rate {:.1f}%", 100 * *rep->hit_rate);
    std::fprintf(stderr, "%s (%.1f s elapsed)\n", line.c_str(), elapsed());
    if (i >= 0) reps.push_back(*rep);
  }

  const auto prefill = SummarizeField(reps, &Rep::prefill_tok_s);
  const auto decode = SummarizeField(reps, &Rep::decode_tok_s);
  const auto ttft = SummarizeField(reps, &Rep::ttft_s);
  const auto hit_rate = SummarizeField(reps, &Rep::hit_rate);
  const auto bytes_per_token = SummarizeField(reps, &Rep::bytes_per_token);
  const auto decode_bytes_per_token = SummarizeField(reps, &Rep::decode_bytes_per_token);
  const auto load_ms = SummarizeField(reps, &Rep::load_ms);
  const auto load_gb_s = SummarizeField(reps, &Rep::load_gb_s);
  const auto stall_s = SummarizeField(reps, &Rep::stall_s);
  const uint64_t peak_rss = PeakRssBytes();
  const uint64_t budget = cache != nullptr ? engine.expert_budget_bytes() : 0;

  if (a.json) {
    nlohmann::ordered_json per_rep = nlohmann::ordered_json::array();
    for (const Rep& r : reps) {
      nlohmann::ordered_json j = {{"prefill_tok_s", r.prefill_tok_s},
                                  {"decode_tok_s", r.decode_tok_s},
                                  {"ttft_s", r.ttft_s},
                                  {"prompt_tokens", r.prompt_tokens},
                                  {"generated_tokens", r.generated_tokens},
                                  {"cache_hit_rate", ToJson(r.hit_rate)},
                                  {"bytes_read_per_token", ToJson(r.bytes_per_token)},
                                  {"decode_bytes_read_per_token", ToJson(r.decode_bytes_per_token)},
                                  {"expert_load_ms", ToJson(r.load_ms)},
                                  {"expert_load_gb_s", ToJson(r.load_gb_s)},
                                  {"stall_s", ToJson(r.stall_s)}};
      j["cache"] = r.has_cache ? CacheStatsJson(r.all) : nlohmann::ordered_json(nullptr);
      j["cache_prefill"] =
          r.has_cache ? CacheStatsJson(r.prefill) : nlohmann::ordered_json(nullptr);
      j["cache_decode"] = r.has_cache ? CacheStatsJson(r.decode) : nlohmann::ordered_json(nullptr);
      per_rep.push_back(j);
    }
    nlohmann::ordered_json j = {
        {"model", a.engine.model},
        {"budget", !a.engine.memory.empty()  ? "memory " + a.engine.memory
                   : a.engine.budget.empty() ? "unlimited"
                                             : a.engine.budget},
        {"budget_bytes", cache != nullptr ? nlohmann::ordered_json(budget) : nullptr},
        {"total_expert_bytes", engine.total_expert_bytes()},
        {"policy", cache != nullptr ? nlohmann::ordered_json(cache->options().policy) : nullptr},
        {"mode", a.engine.mode},
        {"threads", engine.pool().num_threads()},
        {"io_threads", a.engine.cache.io_threads},
        {"prefetch", a.engine.cache.prefetch},
        {"context", eo.context},
        {"prompt_tokens", a.prompt_tokens},
        {"gen_tokens", a.gen_tokens},
        {"repeat", a.repeat},
        {"warmup", a.warmup},
        {"cold", a.cold},
        {"prompt_ids", prompt},
        {"text", a.text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.text)},
        {"forced_ids", forced},
        {"io", a.engine.io},
        {"direct_io_fallbacks", DirectIoFallbacks()},
        {"load_s", engine.load_seconds()},
        {"load_peak_rss_bytes", load_peak_rss},
        {"prefill_tok_s", ToJson(prefill)},
        {"decode_tok_s", ToJson(decode)},
        {"ttft_s", ToJson(ttft)},
        {"peak_rss_bytes", peak_rss},
        {"memory", MemoryJson(engine)},
        {"cache_hit_rate", ToJson(hit_rate)},
        {"bytes_read_per_token", ToJson(bytes_per_token)},
        {"decode_bytes_read_per_token", ToJson(decode_bytes_per_token)},
        {"expert_load_ms", ToJson(load_ms)},
        {"expert_load_gb_s", ToJson(load_gb_s)},
        {"stall_s", ToJson(stall_s)},
        {"repetitions", per_rep},
        {"warnings", engine.Warnings()},
        {"wall_s", elapsed()}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }

  std::string budget_text = "unlimited (every expert resident)";
  if (cache != nullptr) {
    budget_text = fmt::format(
        "{} = {} of {} of experts, policy {}",
        a.engine.memory.empty() ? a.engine.budget : "--memory " + a.engine.memory,
        FormatBytes(budget), FormatBytes(engine.total_expert_bytes()), cache->options().policy);
  }
  std::printf("model %s | budget %s\n", a.engine.model.c_str(), budget_text.c_str());
  std::printf(
      "prompt %d tok, %d generated, %d repetition(s) after %d warm-up%s | load %.2f s, "
      "peak RSS %s after load, %s overall\n",
      a.prompt_tokens, a.gen_tokens, a.repeat, a.warmup, a.cold ? ", cold cache" : "",
      engine.load_seconds(), FormatBytes(load_peak_rss).c_str(), FormatBytes(peak_rss).c_str());
  std::printf("%-26s %s\n", "", "median (min-max)");
  std::printf("%-26s %s\n", "prefill tok/s", Cell(prefill, 1, "{:.1f}").c_str());
  std::printf("%-26s %s\n", "decode tok/s", Cell(decode, 1, "{:.2f}").c_str());
  std::printf("%-26s %s\n", "TTFT s", Cell(ttft, 1, "{:.3f}").c_str());
  if (cache != nullptr) {
    std::printf("%-26s %s\n", "cache hit rate %", Cell(hit_rate, 100, "{:.1f}").c_str());
    std::printf("%-26s %s\n", "MiB read / token",
                Cell(bytes_per_token, 1.0 / (1 << 20), "{:.2f}").c_str());
    std::printf("%-26s %s\n", "MiB read / decoded token",
                Cell(decode_bytes_per_token, 1.0 / (1 << 20), "{:.2f}").c_str());
    std::printf("%-26s %s\n", "expert load ms", Cell(load_ms, 1, "{:.3f}").c_str());
    std::printf("%-26s %s\n", "expert load GB/s", Cell(load_gb_s, 1, "{:.2f}").c_str());
    std::printf("%-26s %s\n", "stalled s", Cell(stall_s, 1, "{:.3f}").c_str());
  }
  for (const std::string& w : engine.Warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand(
      "bench", "Time prefill and decode of a fixed synthetic prompt over repeated sessions");
  AddEngineFlags(sub, &args->engine);
  AddOptionFlags(sub, args.get());
  sub->callback([args, exit_code, sub] {
    args->context_given = sub->get_option("--context")->count() > 0;
    *exit_code = RunBench(*args, *sub);
  });
}

}  // namespace omnisage::cli

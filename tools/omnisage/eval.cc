// omnisage eval: run token ids as one prompt and write the logits of every position.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "experts/extract.h"
#include "generate_flags.h"
#include "io/file.h"
#include "runtime/engine.h"

namespace omnisage::cli {
namespace {

struct EvalArgs {
  EngineOptions engine;
  std::string token_ids;
  std::string logits_out;
};

int RunEval(const EvalArgs& a, const CLI::App& sub) {
  if (Status s = CheckEngineFlags(sub, a.engine); !s.ok()) return ReportError(s.message());
  auto parsed = ParseTokenIds(a.token_ids);
  if (!parsed.ok()) return ReportError("--token-ids: " + parsed.status().message());
  const std::vector<int32_t>& ids = *parsed;
  if (static_cast<int64_t>(ids.size()) > kMaxContext) {
    return ReportError(fmt::format("--token-ids: {} ids, more than the largest context ({} tokens)",
                                   ids.size(), kMaxContext));
  }
  EngineOptions eo = a.engine;
  eo.context = static_cast<int64_t>(ids.size());
  auto engine = Engine::Load(eo);
  if (!engine.ok()) return ReportError(engine.status().message());
  Session session(engine->get());
  auto logits = session.EvalAll(ids);
  if (!logits.ok()) return ReportError(logits.status().message());
  const std::string_view bytes(reinterpret_cast<const char*>(logits->data()),
                               logits->size() * sizeof(float));
  Status s = WriteFileAtomically(a.logits_out, bytes);
  if (!s.ok()) return ReportError(s.message());
  std::printf("wrote %s: float32 little-endian logits [%zu, %lld]\n", a.logits_out.c_str(),
              ids.size(), static_cast<long long>((*engine)->model().vocab_size()));
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Run token ids as one prompt and write float32 logits [n_tokens, vocab]");
  AddEngineFlags(sub, &args->engine);  // --context is ignored: the ids set it
  sub->add_option("--token-ids", args->token_ids, "Comma-separated token ids, e.g. 1,2,3")
      ->required();
  sub->add_option("--logits-out", args->logits_out, "Output file")->required();
  sub->callback([args, exit_code, sub] { *exit_code = RunEval(*args, *sub); });
}

}  // namespace omnisage::cli

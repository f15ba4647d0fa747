// omnisage eval: run a prompt (token ids, or messages with audio, images and videos) and write the
// logits of every position.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "experts/extract.h"
#include "generate_flags.h"
#include "io/file.h"
#include "io/file_system.h"
#include "media_flags.h"
#include "runtime/engine.h"

namespace omnisage::cli {
namespace {

struct EvalArgs {
  EngineOptions engine;
  std::string token_ids;
  MediaArgs media;
  std::string logits_out;
};

int RunEval(const EvalArgs& a, const CLI::App& sub) {
  if (Status s = CheckEngineFlags(sub, a.engine); !s.ok()) return ReportError(s.message());
  if (a.token_ids.empty() == a.media.messages.empty()) {
    return ReportError("give exactly one of --token-ids and --messages");
  }
  Prompt prompt;
  std::string text;  // --messages: encoded once the tokenizer is loaded
  if (!a.token_ids.empty()) {
    auto parsed = ParseTokenIds(a.token_ids);
    if (!parsed.ok()) return ReportError("--token-ids: " + parsed.status().message());
    prompt.ids = *parsed;
    // The ids hold their placeholders.
    if (Status s = LoadMedia(a.media, &prompt); !s.ok()) return ReportError(s.message());
  } else {
    auto built = BuildMediaPrompt(a.media, "", "", &prompt);
    if (!built.ok()) return ReportError(built.status().message());
    text = std::move(*built);
  }
  if (static_cast<int64_t>(prompt.ids.size()) > kMaxContext) {
    return ReportError(fmt::format("--token-ids: {} ids, more than the largest context ({} tokens)",
                                   prompt.ids.size(), kMaxContext));
  }
  EngineOptions eo = a.engine;
  eo.context = std::max<int64_t>(1, static_cast<int64_t>(prompt.ids.size()));
  auto engine = Engine::Load(eo);
  if (!engine.ok()) return ReportError(engine.status().message());
  if (!text.empty()) {
    const Tokenizer* tok = (*engine)->tokenizer();
    if (tok == nullptr) return ReportError(eo.model + ": no tokenizer.json; --messages needs one");
    prompt.ids = tok->Encode(text);
  }
  // The context is the prompt, its placeholders expanded.
  const ImageProcessorConfig defaults;
  const ImageProcessorConfig* processor = &defaults;
  if (!prompt.images.empty() || !prompt.videos.empty()) {
    auto p = (*engine)->image_processor();
    if (!p.ok()) return ReportError(p.status().message());
    processor = *p;
  }
  auto length = ExpandedLength(prompt, (*engine)->config(), *processor);
  if (!length.ok()) return ReportError(length.status().message());
  Session session(engine->get(), std::max<int64_t>(1, *length));
  auto logits = session.EvalAll(prompt);
  if (!logits.ok()) return ReportError(logits.status().message());
  const std::string_view bytes(reinterpret_cast<const char*>(logits->data()),
                               logits->size() * sizeof(float));
  Status s = WriteFileAtomically(a.logits_out, bytes);
  if (!s.ok()) return ReportError(s.message());
  std::printf("wrote %s: float32 little-endian logits [%zu, %lld]\n", a.logits_out.c_str(),
              session.history().size(), static_cast<long long>((*engine)->model().vocab_size()));
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Run a prompt (token ids or messages) and write float32 logits [n_tokens, vocab]");
  AddEngineFlags(sub, &args->engine);  // --context is ignored: the prompt sets it
  sub->add_option("--token-ids", args->token_ids,
                  "Comma-separated token ids, e.g. 1,2,3 (one <|audio_pad|> id per --audio, one "
                  "<|image_pad|> id per --image, one <|video_pad|> id per --video)");
  AddMessagesFlag(sub, &args->media);
  AddAudioFlag(sub, &args->media);
  AddImageFlag(sub, &args->media);
  AddVideoFlags(sub, &args->media);
  sub->add_option("--logits-out", args->logits_out, "Output file")->required();
  sub->callback([args, exit_code, sub] { *exit_code = RunEval(*args, *sub); });
}

}  // namespace omnisage::cli

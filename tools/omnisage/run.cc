// omnisage run: one prompt, answered as a stream, then a one-line summary.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "generate_flags.h"
#include "media_flags.h"
#include "runtime/report.h"
#include "speak_flags.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"
#include "util/proc_memory.h"

namespace omnisage::cli {
namespace {

struct RunArgs {
  GenerateArgs gen;
  std::string prompt;
  std::string prompt_ids;
  MediaArgs media;
  SpeakArgs speak;
  bool raw = false;
  bool ignore_stop = false;
  bool json = false;
};

int RunRun(const RunArgs& a, const CLI::App& sub) {
  // Every flag is checked before any model file is opened.
  if (sub.get_option("--prompt")->count() > 0 && a.prompt.empty()) {
    return ReportError("--prompt is empty: give the user's message, e.g. --prompt 'Hello'");
  }
  if (Status s = CheckGenerateFlags(sub, a.gen); !s.ok()) return ReportError(s.message());
  if (Status s = CheckSpeakFlags(sub, a.speak, /*out_is_dir=*/false); !s.ok()) {
    return ReportError(s.message());
  }
  if (!a.prompt.empty() + !a.prompt_ids.empty() + !a.media.messages.empty() != 1) {
    return ReportError("give exactly one of --prompt, --prompt-ids and --messages");
  }
  // The prompt's text and audio are read before the model: a bad file costs no load.
  Prompt prompt;
  std::string text = a.prompt;  // encoded once the tokenizer is loaded
  if (!a.prompt_ids.empty()) {
    auto ids = ParseTokenIds(a.prompt_ids);
    if (!ids.ok()) return ReportError("--prompt-ids: " + ids.status().message());
    prompt.ids = *ids;
  }
  if (!a.prompt_ids.empty() || a.raw) {  // the ids or the raw text hold the placeholders
    if (Status s = LoadMedia(a.media, &prompt); !s.ok()) return ReportError(s.message());
  } else {
    auto built = BuildMediaPrompt(a.media, a.gen.system, a.prompt, &prompt);
    if (!built.ok()) return ReportError(built.status().message());
    text = std::move(*built);
  }
  const bool speak = !a.speak.out.empty();
  std::unique_ptr<WavWriter> wav;
  if (speak) {  // before the model: an unwritable file costs no load
    auto w = WavWriter::Open(a.speak.out, Code2Wav::kSampleRate);
    if (!w.ok()) return ReportError(w.status().message());
    wav = std::move(*w);
  }
  EngineOptions engine_options = a.gen.engine;
  engine_options.speech = speak;
  // What the --memory plan holds beside the thinker: the encoders this prompt uses.
  engine_options.audio_input =
      !prompt.audio.empty() || (prompt.use_audio_in_video && !prompt.videos.empty());
  engine_options.vision_input = !prompt.images.empty() || !prompt.videos.empty();
  engine_options.speak_max_frames = a.speak.options.max_frames;
  engine_options.speak_chunk = a.speak.options.chunk_frames;
  auto engine = Engine::Load(engine_options);
  if (!engine.ok()) return ReportError(engine.status().message());
  const Tokenizer* tok = (*engine)->tokenizer();
  if (tok == nullptr) return ReportError(a.gen.engine.model + ": no tokenizer.json; run needs one");
  // Speech that cannot load (no talker, missing tensors) leaves the text answer; the run then
  // fails, since speech was asked for.
  std::unique_ptr<Speaker> speaker;
  std::string speech_error;
  if (speak) {
    if (Status st =
            LoadSpeaker(engine->get(), a.speak, "answering in text only", &speaker, &speech_error);
        !st.ok()) {
      return ReportError(st.message());
    }
  }
  if (a.prompt_ids.empty()) prompt.ids = tok->Encode(text);
  GenerateOptions opts = a.gen.generate;
  const int32_t stop = tok->TokenId(kChatStopToken);
  if (stop >= 0 && !a.ignore_stop) opts.stop_ids.push_back(stop);
  Session session(engine->get());
  StreamDecoder stream(*tok, /*skip_special=*/true);
  std::vector<int32_t> generated;
  std::string answer;
  auto on_token = [&](int32_t id) {
    generated.push_back(id);
    if (id == stop) return true;
    const std::string piece = stream.Push(id);
    answer += piece;
    if (!a.json) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  StatusOr<GenerateStats> stats = GenerateStats{};
  std::optional<SpokenAnswer> spoken;
  if (speaker != nullptr) {
    auto answer =
        speaker->Generate(&session, prompt, opts, a.speak.options, on_token,
                          [&](const float* samples, int64_t n) { return wav->Write(samples, n); });
    if (answer.ok()) {
      stats = answer->text;
      spoken = std::move(*answer);
      if (Status closed = wav->Close(); !closed.ok()) return ReportError(closed.message());
    } else {
      stats = answer.status();
    }
  } else {
    stats = session.Generate(prompt, opts, on_token);
  }
  if (!stats.ok()) return ReportError(stats.status().message());
  const std::string rest = stream.Flush();
  answer += rest;
  if (a.json) {
    nlohmann::ordered_json j = {
        {"text", answer},
        {"token_ids", generated},
        {"prompt_tokens", stats->prompt_tokens},
        {"generated_tokens", stats->generated_tokens},
        {"stop_reason", stats->stopped ? "stop_token" : "max_tokens"},
        {"prefill_tok_s", stats->prefill_tok_s()},
        {"decode_tok_s", stats->decode_tok_s()},
        {"ttft_s", stats->ttft_seconds},
        {"load_s", (*engine)->load_seconds()},
        {"peak_rss_bytes", PeakRssBytes()},
        {"memory", MemoryJson(**engine)},
        {"expert_cache", CacheJson(**engine)},
        {"sage", (*engine)->sage() != nullptr ? (*engine)->sage()->ToJson()
                                              : nlohmann::ordered_json(nullptr)},
        {"speech",
         spoken ? SpeechJson(*spoken, *speaker, a.speak.out) : nlohmann::ordered_json(nullptr)},
        {"warnings", stats->warnings}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("%s\n", rest.c_str());
    std::fprintf(stderr, "%s\n%s", SummaryLine(*stats).c_str(), MemoryReport(**engine).c_str());
    if (spoken) {
      std::fprintf(stderr, "%s\nwrote %s\n", SpeechSummary(*spoken, *speaker).c_str(),
                   a.speak.out.c_str());
    }
  }
  if (!speech_error.empty()) return ReportError("speech: " + speech_error);
  return 0;
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "Answer one prompt, streaming the text");
  AddGenerateFlags(sub, &args->gen);
  sub->add_option("--prompt", args->prompt, "The user's message");
  sub->add_option("--prompt-ids", args->prompt_ids,
                  "Token ids to feed as is instead of a text prompt, e.g. 1,2,3 (benchmarks)");
  AddAudioFlag(sub, &args->media);
  AddImageFlag(sub, &args->media);
  AddVideoFlags(sub, &args->media);
  AddMessagesFlag(sub, &args->media);
  sub->add_flag("--raw", args->raw,
                "Feed the prompt as is, without the chat template (it must then hold one "
                "<|audio_start|><|audio_pad|><|audio_end|> per --audio and one "
                "<|vision_start|><|image_pad|><|vision_end|> per --image and "
                "<|vision_start|><|video_pad|><|vision_end|> per --video)");
  sub->add_flag("--ignore-stop", args->ignore_stop,
                "Generate exactly --max-tokens tokens, past <|im_end|> (benchmarks)");
  AddSpeakFlags(sub, &args->speak,
                "Speak the answer into this WAV file (24 kHz mono) while the text streams");
  sub->add_flag("--json", args->json,
                "Print one JSON object (text, token_ids, speed and memory figures) instead");
  sub->callback([args, exit_code, sub] { *exit_code = RunRun(*args, *sub); });
}

}  // namespace omnisage::cli

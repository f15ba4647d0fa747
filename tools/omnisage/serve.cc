// omnisage serve: an OpenAI-compatible HTTP server and web chat over one engine
// (src/server/http_server.h). SIGINT or SIGTERM stops it.
#include <fmt/format.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "commands.h"
#include "generate_flags.h"
#include "option_flags.h"
#include "server/http_server.h"
#include "server/server_options.h"

namespace omnisage::cli {
namespace {

struct ServeArgs {
  EngineOptions engine;
  GenerateOptions generate;  // the defaults of requests
  ServeOptions serve;
  SpeakOptions speak;
};

std::string ModelName(const std::string& model) {
  std::filesystem::path p(model);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

int RunServe(const ServeArgs& a, const CLI::App& sub) {
  if (Status s = CheckEngineFlags(sub, a.engine); !s.ok()) return ReportError(s.message());
  if (Status s = ValidateOptions(a.generate); !s.ok()) return ReportError(s.message());
  if (Status s = ValidateOptions(a.serve); !s.ok()) return ReportError(s.message());
  if (Status s = ValidateOptions(a.speak); !s.ok()) return ReportError(s.message());
  if (a.generate.max_tokens > a.serve.max_tokens_limit) {
    return ReportError(fmt::format("--max-tokens {} is more than --max-tokens-limit {}",
                                   a.generate.max_tokens, a.serve.max_tokens_limit));
  }
  // SIGINT and SIGTERM go to one thread that stops the server; a client that vanishes mid-write
  // is a failed write, not a SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  EngineOptions engine_options = a.engine;
  engine_options.speech = a.serve.speech;
  // The --memory plan: any request may bring audio, images or videos, and --max-batch requests
  // hold a KV cache each.
  engine_options.audio_input = engine_options.vision_input = true;
  engine_options.kv_sessions = a.serve.max_batch;
  auto engine = Engine::Load(engine_options);
  if (!engine.ok()) return ReportError(engine.status().message());
  if ((*engine)->tokenizer() == nullptr) {
    return ReportError(a.engine.model + ": no tokenizer.json; serve needs one");
  }
  // A talker that does not load (a model without one, a build whose talker tensors are missing
  // or unreadable) turns speech off, said here and in every spoken request's 400: the thinker
  // still answers in text, as run does.
  std::unique_ptr<Speaker> speaker;
  std::string speech_error;
  if (a.serve.speech) {
    auto loaded = Speaker::Load(engine->get());
    if (!loaded.ok()) {
      speech_error = loaded.status().message();
      std::fprintf(stderr, "omnisage serve: --speech: %s; serving text only\n",
                   speech_error.c_str());
    } else {
      speaker = std::move(*loaded);
      if (auto voice = speaker->VoiceId(a.speak.voice); !voice.ok()) {
        return ReportError("--voice: " + voice.status().message());
      }
    }
  }
  HttpServer server(engine->get(), speaker.get(), a.serve, a.generate, a.speak,
                    ModelName(a.engine.model), speech_error);
  auto port = server.Bind();
  if (!port.ok()) return ReportError(port.status().message());
  std::fprintf(stderr,
               "omnisage serve: %s loaded in %.1f s; listening on http://%s:%d (web chat at /, "
               "OpenAI API at /v1)\n",
               a.engine.model.c_str(), (*engine)->load_seconds(), a.serve.host.c_str(), *port);
  std::fflush(stderr);
  std::thread([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "omnisage serve: signal %d, stopping\n", sig);
    server.Stop();
  }).detach();
  server.Run();
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* sub =
      app.add_subcommand("serve", "OpenAI-compatible HTTP server and web chat (docs/serve.md)");
  AddEngineFlags(sub, &args->engine);
  AddOptionFlags(sub, &args->generate);
  AddOptionFlags(sub, &args->serve);
  AddOptionFlags(sub, &args->speak);
  sub->callback([args, exit_code, sub] { *exit_code = RunServe(*args, *sub); });
}

}  // namespace omnisage::cli

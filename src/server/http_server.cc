#include "server/http_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>

#include "server/base64.h"
#include "server/metrics.h"
#include "server/openai_response.h"
#include "server/web_page.h"
#include "speech/code2wav.h"
#include "tokenizer/chat_template.h"

namespace omnisage {

using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kPoll(200);  // how often a waiting answer checks on its client

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnimplemented:
      return 400;
    case StatusCode::kResourceExhausted:
      return 503;
    default:
      return 500;
  }
}

// ": messages[0].content[1] is a video of N tokens, ..." for a prompt refused as too long.
std::string VideoTokens(const Prompt& prompt, const ApiRequest& api,
                        const ImageProcessorConfig& images) {
  const int64_t merge = images.merge_size;
  std::string out;
  const VideoProcessorConfig config = VideoConfigOf(prompt, images);
  for (size_t i = 0; i < prompt.videos.size() && i < api.video_files.size(); ++i) {
    auto plan = PlanVideo(prompt.videos[i], config);
    if (!plan.ok()) continue;
    const int64_t tokens = plan->grid.t * plan->grid.h * plan->grid.w / (merge * merge);
    out += fmt::format("{} {} is a video of {} tokens", out.empty() ? ":" : ",",
                       api.video_files[i]->part(), tokens);
  }
  return out;
}

ApiError ErrorOf(const Status& s) {
  const int status = HttpStatusOf(s);
  return {status, s.message(), "", status >= 500 ? "server_error" : "invalid_request_error"};
}

// Paths counted by name in the metrics; anything else is "other".
std::string KnownPath(const std::string& path) {
  for (const char* p : {"/", "/health", "/metrics", "/v1/models", "/v1/chat/completions",
                        "/v1/completions", "/v1/omnisage/cache"}) {
    if (path == p) return path;
  }
  return "other";
}

// Compares without stopping at the first difference (the key is a secret).
bool SameKey(const std::string& a, const std::string& b) {
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    diff |= static_cast<unsigned char>(i < a.size() ? a[i] : 0) ^
            static_cast<unsigned char>(i < b.size() ? b[i] : 0);
  }
  return diff == 0;
}

}  // namespace

// One answer on its way to a client.
struct HttpServer::Answer {
  ApiRequest api;
  AnswerHeader header;
  std::shared_ptr<Job> job;
  std::string text;          // taken from the job, not yet sent
  std::vector<float> audio;  // taken, not yet sent (pcm16) or kept (wav)
  std::string all_text;      // the whole answer so far (non-streamed, transcript)
  std::vector<float> all_audio;
  bool done = false;      // the job has finished and everything was taken
  bool started = false;   // the first chunk (the role) was sent
  bool finished = false;  // the last bytes were written

  void Take(milliseconds timeout) {
    const size_t before = text.size();
    done = job->Take(timeout, &text, &audio);
    all_text.append(text, before);
  }
  json SpeechObject(const std::string& data) const {
    return {{"id", "audio-" + header.id},
            {"data", data},
            {"expires_at", header.created + 3600},
            {"transcript", all_text}};
  }
};

HttpServer::HttpServer(Engine* engine, Speaker* speaker, const ServeOptions& options,
                       const GenerateOptions& defaults, const SpeakOptions& speak_defaults,
                       std::string model_name, std::string speech_error)
    : engine_(engine),
      speaker_(speaker),
      options_(options),
      defaults_(defaults),
      speak_defaults_(speak_defaults),
      model_name_(std::move(model_name)),
      started_(std::chrono::steady_clock::now()),
      http_(std::make_unique<httplib::Server>()) {
  caps_.audio_input = engine->config().arch == Arch::kQwen3OmniMoe;
  caps_.image_input = engine->config().arch == Arch::kQwen3OmniMoe;
  if (caps_.image_input) {
    // Read before the worker starts: the engine's lazy getter is not for concurrent callers.
    auto processor = engine->image_processor();
    if (processor.ok()) {
      image_processor_ = **processor;
    } else {
      caps_.image_input = false;
      caps_.no_image_reason = processor.status().message();
    }
  }
  caps_.speech_output = speaker != nullptr;
  caps_.no_speech_reason = std::move(speech_error);
  caps_.max_tokens_limit = options.max_tokens_limit;
  stop_id_ = engine->tokenizer()->TokenId(kChatStopToken);
  const int64_t context = engine->options().context;
  max_prompt_tokens_ =
      options.max_prompt_tokens > 0 ? std::min(options.max_prompt_tokens, context) : context;
  monitor_ = std::make_unique<CacheMonitor>(engine);
  scheduler_ = std::make_unique<Scheduler>(engine, speaker, options.max_queue, options.max_batch);

  httplib::Server& h = *http_;
  // Enough threads for every running and waiting request, plus the cheap endpoints.
  const size_t threads = static_cast<size_t>(options.max_batch + options.max_queue + 4);
  h.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  h.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  h.set_keep_alive_max_count(100);
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (!SameKey(req.get_header_value("Authorization"), "Bearer " + options_.api_key)) {
      Error(res, {401, "a wrong or missing API key: send 'Authorization: Bearer KEY'", "",
                  "authentication_error"});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  h.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      Error(res, {413, "the request body is larger than this server takes (--max-body)", "",
                  "invalid_request_error"});
    } else if (res.status == 404) {
      Error(res,
            {404, "no such endpoint: " + req.method + " " + req.path, "", "invalid_request_error"});
    } else {
      Error(res, {res.status, "the request could not be handled", "", "invalid_request_error"});
    }
  });
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        Error(res, {500, "internal error: " + what, "", "server_error"});
      });
  h.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    Count(KnownPath(req.path), res.status);
  });

  h.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  h.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(WebPage()), "text/html; charset=utf-8");
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    MetricsInputs in;
    in.scheduler = scheduler_->stats();
    {
      std::lock_guard lock(counts_mu_);
      in.requests = counts_;
    }
    if (CachedExperts* cache = engine_->expert_cache()) in.cache = cache->total_stats();
    in.expert_budget_bytes = engine_->expert_budget_bytes();
    in.total_expert_bytes = engine_->total_expert_bytes();
    in.kv_cache_limit_bytes = static_cast<uint64_t>(options_.max_batch) *
                              engine_->model().CacheBytes(engine_->options().context);
    in.uptime_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    res.set_content(RenderMetrics(in), "text/plain; version=0.0.4");
  });
  h.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json model = {{"id", model_name_},
                        {"object", "model"},
                        {"created", std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()},
                        {"owned_by", "omnisage"}};
    res.set_content(json({{"object", "list"}, {"data", json::array({model})}}).dump(),
                    "application/json");
  });
  h.Get("/v1/omnisage/cache", [this](const httplib::Request&, httplib::Response& res) {
    json j = monitor_->Snapshot();
    const SchedulerStats s = scheduler_->stats();
    j["running"] = s.running;
    j["queued"] = s.queued;
    j["tokens_per_second"] = s.tokens_per_second;
    res.set_content(j.dump(), "application/json");
  });
  h.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, /*chat=*/true);
  });
  h.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, /*chat=*/false);
  });
}

HttpServer::~HttpServer() {
  Stop();
  scheduler_.reset();  // cancels and joins before the monitor detaches
}

StatusOr<int> HttpServer::Bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
  } else if (!http_->bind_to_port(options_.host, port)) {
    port = -1;
  }
  if (port < 0) {
    return IoError(
        fmt::format("cannot listen on {}:{} (in use, or not an address of this "
                    "machine)",
                    options_.host, options_.port));
  }
  return port;
}

void HttpServer::Run() { http_->listen_after_bind(); }

void HttpServer::Stop() { http_->stop(); }

void HttpServer::Count(const std::string& path, int status) {
  std::lock_guard lock(counts_mu_);
  ++counts_[{path, status}];
}

void HttpServer::Error(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(ErrorBody(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void HttpServer::Generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  auto a = std::make_shared<Answer>();
  if (auto e = ParseApiRequest(req.body, chat, defaults_, caps_, &a->api)) return Error(res, *e);
  std::string text;
  if (auto e = PromptText(a->api, &text)) return Error(res, *e);
  GenerationRequest g;
  g.prompt.ids = engine_->tokenizer()->Encode(text);
  g.prompt.audio = std::move(a->api.audio);
  g.prompt.images = std::move(a->api.images);
  g.prompt.videos = std::move(a->api.videos);
  g.prompt.use_audio_in_video = a->api.use_audio_in_video;
  g.files = a->api.video_files;  // shared: the request keeps them to name its parts in errors
  g.options = a->api.options;
  if (stop_id_ >= 0 && !a->api.ignore_eos) g.options.stop_ids.push_back(stop_id_);
  g.stop = a->api.stop;
  // Token counts follow from the clips' lengths and the images' sizes: a prompt that cannot fit
  // is refused here, before any encoder runs.
  const StatusOr<int64_t> expanded = ExpandedLength(g.prompt, engine_->config(), image_processor_);
  if (!expanded.ok()) {
    return Error(res, {400, NameVideoParts(expanded.status().message(), a->api), "messages",
                       "invalid_request_error"});
  }
  const int64_t prompt_tokens = *expanded;
  if (prompt_tokens > max_prompt_tokens_) {
    return Error(res, {400,
                       fmt::format("the prompt has {} tokens, more than this server takes ({}){}",
                                   prompt_tokens, max_prompt_tokens_,
                                   VideoTokens(g.prompt, a->api, image_processor_)),
                       chat ? "messages" : "prompt", "invalid_request_error"});
  }
  const int64_t context = engine_->options().context;
  if (prompt_tokens + g.options.max_tokens > context) {
    return Error(res, {400,
                       fmt::format("this model's context holds {} tokens, but {} were asked for "
                                   "({} in the prompt, max_tokens {}); ask for fewer",
                                   context, prompt_tokens + g.options.max_tokens, prompt_tokens,
                                   g.options.max_tokens),
                       "max_tokens", "invalid_request_error"});
  }
  if (a->api.speak) {
    g.speak = true;
    g.speak_options = speak_defaults_;
    if (!a->api.voice.empty()) g.speak_options.voice = a->api.voice;
    if (auto id = speaker_->VoiceId(g.speak_options.voice); !id.ok()) {
      return Error(res, {400, id.status().message(), "audio.voice", "invalid_request_error"});
    }
  }
  auto job = scheduler_->Submit(std::move(g));
  if (!job.ok()) {
    const bool busy = job.status().code() == StatusCode::kResourceExhausted;
    return Error(res, {busy ? 429 : 400, job.status().message(), "",
                       busy ? "rate_limit_error" : "invalid_request_error"});
  }
  a->job = *job;
  a->header = NewAnswerHeader(chat, model_name_);
  // The status line goes out with the first bytes: wait for the first output, so that an answer
  // that fails before it gets an error status rather than a 200.
  while (!a->done && a->text.empty() && a->audio.empty()) a->Take(kPoll);
  if (a->done && a->text.empty()) {
    const GenerationResult r = a->job->result();
    if (!r.status.ok()) {
      // The video reader's errors name the request's part, and are the client's data: a 400.
      bool named = false;
      ApiError e = ErrorOf(r.status);
      e.message = NameVideoParts(e.message, a->api, &named);
      if (named && e.http_status == 500) e = {400, e.message, "messages", "invalid_request_error"};
      return Error(res, e);
    }
  }
  if (a->api.stream) return Stream(a, res);
  Whole(a, res);
}

void HttpServer::Stream(std::shared_ptr<Answer> a, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [a](size_t, httplib::DataSink& sink) {
        const AnswerHeader& h = a->header;
        const bool chat = h.chat, speak = a->api.speak;
        const bool pcm = speak && a->api.audio_format == "pcm16";
        std::string out;
        if (!a->started && chat) {
          out += SseData(Chunk(h, {{"role", "assistant"}, {"content", speak ? json() : json("")}},
                               nullptr, nullptr));
        }
        a->started = true;
        if (!a->text.empty()) {
          const json delta =
              speak ? json{{"audio", {{"transcript", a->text}}}} : json{{"content", a->text}};
          out += SseData(Chunk(h, delta, nullptr, nullptr));
          a->text.clear();
        }
        if (!a->audio.empty()) {
          if (pcm) {
            out += SseData(
                Chunk(h,
                      {{"audio",
                        {{"id", "audio-" + h.id},
                         {"data", Base64Encode(Pcm16Bytes(a->audio.data(), a->audio.size()))}}}},
                      nullptr, nullptr));
          } else {
            a->all_audio.insert(a->all_audio.end(), a->audio.begin(), a->audio.end());
          }
          a->audio.clear();
        }
        if (a->done) {
          const GenerationResult r = a->job->result();
          if (!r.status.ok()) {
            out += SseData(json(ErrorBody(ErrorOf(r.status))));
          } else {
            if (speak && !pcm) {
              const json audio =
                  a->SpeechObject(Base64Encode(WavBytes(a->all_audio, Code2Wav::kSampleRate)));
              out += SseData(Chunk(h, {{"audio", audio}}, nullptr, nullptr));
            }
            out += SseData(Chunk(h, json::object(), r.finish_reason, nullptr));
            if (a->api.include_usage) {
              out += SseData(
                  Chunk(h, json::object(), nullptr, Usage(r.prompt_tokens, r.completion_tokens)));
            }
          }
          out += kSseDone;
          a->finished = true;
        }
        if (out.empty()) out = ": waiting\n\n";  // a write that fails when the client has gone
        if (!sink.write(out.data(), out.size())) {
          a->job->Cancel();
          return false;
        }
        if (a->finished) {
          sink.done();
          return true;
        }
        a->Take(kPoll);
        return true;
      },
      [a](bool success) {
        if (!success) a->job->Cancel();
      });
}

void HttpServer::Whole(std::shared_ptr<Answer> a, httplib::Response& res) {
  res.set_chunked_content_provider(
      "application/json",
      [a](size_t, httplib::DataSink& sink) {
        a->all_audio.insert(a->all_audio.end(), a->audio.begin(), a->audio.end());
        a->audio.clear();
        a->text.clear();        // kept in all_text
        std::string out = " ";  // JSON may begin with white space: a write that finds the client
        if (a->done) {
          const GenerationResult r = a->job->result();
          if (!r.status.ok()) {
            out = json(ErrorBody(ErrorOf(r.status))).dump();
          } else {
            const json audio =
                a->api.speak
                    ? a->SpeechObject(Base64Encode(WavBytes(a->all_audio, Code2Wav::kSampleRate)))
                    : json();
            out = FullAnswer(a->header, a->all_text, r.finish_reason,
                             Usage(r.prompt_tokens, r.completion_tokens), audio)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          }
          a->finished = true;
        }
        if (!sink.write(out.data(), out.size())) {
          a->job->Cancel();
          return false;
        }
        if (a->finished) {
          sink.done();
          return true;
        }
        a->Take(kPoll);
        return true;
      },
      [a](bool success) {
        if (!success) a->job->Cancel();
      });
}

}  // namespace omnisage

// HttpServer: the OpenAI-compatible HTTP front of one Engine (cpp-httplib).
//
//   POST /v1/chat/completions   chat; streamed as server-sent events when "stream": true
//   POST /v1/completions        a raw prompt, no chat template
//   GET  /v1/models             the one model served
//   GET  /v1/omnisage/cache     the live expert-cache view (server/cache_monitor.h)
//   GET  /health                {"status": "ok"}, no key needed
//   GET  /metrics               Prometheus text (server/metrics.h), no key needed
//   GET  /                      the web chat (an embedded page; nothing fetched at run time)
//
// Errors are OpenAI error objects: malformed JSON or a bad field 400, a wrong or missing key
// 401, an unknown path 404, a body over --max-body 413, a full queue 429, a failure while
// generating 500. A streamed answer whose client goes away is cancelled: while it waits for
// tokens the server writes an SSE comment every 200 ms (a non-streamed answer: a space before its
// JSON), and a failed write cancels the job. Requests are run by the Scheduler.
//
// Thread-safety: Stop may be called from any thread; the rest from the one that owns the server.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/engine.h"
#include "runtime/speaker.h"
#include "server/cache_monitor.h"
#include "server/openai_request.h"
#include "server/scheduler.h"
#include "server/server_options.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace omnisage {

class HttpServer {
 public:
  // `engine` (with a tokenizer) and `speaker` (may be null: no spoken answers) must outlive the
  // server. `defaults` and `speak_defaults`: what a request leaves out. `model_name`: /v1/models'
  // id. `speech_error`: why --speech gave no speaker (said in the 400 of a spoken request).
  HttpServer(Engine* engine, Speaker* speaker, const ServeOptions& options,
             const GenerateOptions& defaults, const SpeakOptions& speak_defaults,
             std::string model_name, std::string speech_error = "");
  ~HttpServer();

  // Binds options.host:options.port; returns the port (the one chosen for port 0). Errors: the
  // address cannot be bound (in use, not this machine's).
  StatusOr<int> Bind();
  // Serves until Stop.
  void Run();
  void Stop();

 private:
  struct Answer;
  void Generate(const httplib::Request& req, httplib::Response& res, bool chat);
  void Stream(std::shared_ptr<Answer> a, httplib::Response& res);
  void Whole(std::shared_ptr<Answer> a, httplib::Response& res);
  static void Error(httplib::Response& res, const ApiError& e);
  void Count(const std::string& path, int status);

  Engine* engine_;
  Speaker* speaker_;
  ServeOptions options_;
  GenerateOptions defaults_;
  SpeakOptions speak_defaults_;
  std::string model_name_;
  ApiCapabilities caps_;
  // The model's image processor settings, read once here (requests size their images with it
  // on the HTTP threads); default settings when image input is off.
  ImageProcessorConfig image_processor_;
  int32_t stop_id_ = -1;
  int64_t max_prompt_tokens_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<CacheMonitor> monitor_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<httplib::Server> http_;
  std::mutex counts_mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_;
};

}  // namespace omnisage

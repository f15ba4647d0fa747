// Scheduler: many clients, one engine. Requests become Jobs in a bounded queue; one worker thread
// owns the engine (its model runs one forward pass at a time) and runs them, each in a Session of
// its own (its own KV cache), so every request shares the one expert cache. Text answers run
// together: up to max_batch sequences are admitted, each is prefilled on its own (Session::
// Start), and their decode steps run as one batch (Session::StepBatch) in which an expert
// acquired once serves every sequence routed to it; each sequence gets the tokens it would get
// alone. A spoken answer (the talker runs beside the thinker), and any answer in SAGE mode, runs
// alone, once the batch has drained.
//
// A Job is the client's end: it takes the answer's text (after stop strings, server/
// text_stream.h) and audio as they come, and may be cancelled at any time (a client that went
// away); the worker stops it at its next token.
//
// Thread-safety: Submit, stats and the Job methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "runtime/speaker.h"
#include "server/scratch_file.h"

namespace omnisage {

struct GenerationRequest {
  Prompt prompt;
  GenerateOptions options;        // stop ids included
  std::vector<std::string> stop;  // stop strings
  bool speak = false;             // needs the scheduler's Speaker
  SpeakOptions speak_options;
  // Files the prompt's videos are read from, removed once the job and the request let go.
  std::vector<std::shared_ptr<ScratchFile>> files;
};

struct GenerationResult {
  Status status;              // an error that ended the answer (what came before it was sent)
  std::string finish_reason;  // "stop" (stop token or string), "length" or "cancelled"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double ttft_seconds = 0;  // from the start of the job's run to its first token
};

class Job {
 public:
  // Waits up to `timeout` for output and appends what came to *text and *audio (24 kHz mono).
  // Returns true once the job has finished and everything it made has been taken.
  bool Take(std::chrono::milliseconds timeout, std::string* text, std::vector<float>* audio);
  // Stops the job at its next token (or drops it from the queue); its result says "cancelled".
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // Complete once Take has returned true.
  GenerationResult result() const;

 private:
  friend class Scheduler;
  explicit Job(GenerationRequest request) : request_(std::move(request)) {}
  void Emit(const std::string& text, const float* audio, int64_t n);
  void Finish(GenerationResult result);

  GenerationRequest request_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  std::vector<float> audio_;
  bool done_ = false;
  GenerationResult result_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerStats {
  int64_t running = 0;  // jobs being generated
  int64_t queued = 0;   // jobs waiting for a slot
  uint64_t finished = 0, cancelled = 0, failed = 0;
  uint64_t prompt_tokens = 0, completion_tokens = 0;
  uint64_t decode_steps = 0;     // forward passes of the decode loop (one per batch step)
  uint64_t decode_tokens = 0;    // tokens those passes ran (sum of the batch sizes)
  double tokens_per_second = 0;  // tokens generated over the last 10 s (all sequences)
};

class Scheduler {
 public:
  // `speaker` may be null (no spoken answers). Both must outlive the scheduler.
  Scheduler(Engine* engine, Speaker* speaker, int max_queue, int max_batch);
  ~Scheduler();  // cancels every job and joins the worker

  // Errors: ResourceExhausted when max_queue jobs are waiting already; FailedPrecondition-like
  // InvalidArgument for a spoken request without a speaker.
  StatusOr<std::shared_ptr<Job>> Submit(GenerationRequest request);
  SchedulerStats stats() const;

 private:
  struct Running;
  void Work();
  // Takes a running answer's next token; false once the answer has ended (and is Done).
  bool Accept(Running& r, int32_t id);
  // Runs one job alone (a spoken answer, or the serial path).
  void RunAlone(const std::shared_ptr<Job>& job);
  void CountTokens(int64_t n);
  void Done(const std::shared_ptr<Job>& job, GenerationResult result);

  Engine* engine_;
  Speaker* speaker_;
  const int max_queue_, max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};
  SchedulerStats stats_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent_;  // tokens/s
  std::thread worker_;
};

}  // namespace omnisage

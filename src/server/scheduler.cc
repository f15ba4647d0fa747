#include "server/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <vector>

#include "server/text_stream.h"
#include "tokenizer/stream_decoder.h"

namespace omnisage {

using Clock = std::chrono::steady_clock;

bool Job::Take(std::chrono::milliseconds timeout, std::string* text, std::vector<float>* audio) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done_ || !text_.empty() || !audio_.empty(); });
  text->append(text_);
  text_.clear();
  audio->insert(audio->end(), audio_.begin(), audio_.end());
  audio_.clear();
  return done_;
}

GenerationResult Job::result() const {
  std::lock_guard lock(mu_);
  return result_;
}

void Job::Emit(const std::string& text, const float* audio, int64_t n) {
  {
    std::lock_guard lock(mu_);
    text_ += text;
    if (n > 0) audio_.insert(audio_.end(), audio, audio + n);
  }
  cv_.notify_all();
}

void Job::Finish(GenerationResult result) {
  {
    std::lock_guard lock(mu_);
    result_ = std::move(result);
    done_ = true;
  }
  cv_.notify_all();
}

Scheduler::Scheduler(Engine* engine, Speaker* speaker, int max_queue, int max_batch)
    : engine_(engine), speaker_(speaker), max_queue_(max_queue), max_batch_(max_batch) {
  worker_ = std::thread([this] { Work(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const auto& job : queue_) job->Cancel();
  }
  stop_ = true;  // running jobs stop at their next token
  cv_.notify_all();
  worker_.join();
}

StatusOr<std::shared_ptr<Job>> Scheduler::Submit(GenerationRequest request) {
  if (request.speak && speaker_ == nullptr) {
    return InvalidArgument("spoken answers are off on this server");
  }
  std::shared_ptr<Job> job(new Job(std::move(request)));
  {
    std::lock_guard lock(mu_);
    if (stopping_) return ResourceExhausted("the server is shutting down");
    if (static_cast<int>(queue_.size()) >=
        max_queue_ + std::max<int64_t>(0, max_batch_ - stats_.running)) {
      return ResourceExhausted(
          fmt::format("the server is busy: {} requests running and {} waiting (--max-queue {}); "
                      "try again later",
                      stats_.running, queue_.size(), max_queue_));
    }
    queue_.push_back(job);
    stats_.queued = static_cast<int64_t>(queue_.size());
  }
  cv_.notify_all();
  return job;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mu_);
  SchedulerStats s = stats_;
  const auto now = Clock::now();
  int64_t tokens = 0;
  for (const auto& [t, n] : recent_) {
    if (now - t <= std::chrono::seconds(10)) tokens += n;
  }
  s.tokens_per_second = tokens / 10.0;
  return s;
}

void Scheduler::CountTokens(int64_t n) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  recent_.emplace_back(now, n);
  while (!recent_.empty() && now - recent_.front().first > std::chrono::seconds(10)) {
    recent_.pop_front();
  }
  stats_.completion_tokens += static_cast<uint64_t>(n);
}

void Scheduler::Done(const std::shared_ptr<Job>& job, GenerationResult result) {
  {
    std::lock_guard lock(mu_);
    stats_.prompt_tokens += static_cast<uint64_t>(result.prompt_tokens);
    if (!result.status.ok()) {
      ++stats_.failed;
    } else if (result.finish_reason == "cancelled") {
      ++stats_.cancelled;
    } else {
      ++stats_.finished;
    }
  }
  job->Finish(std::move(result));
}

// A text answer in the batch.
struct Scheduler::Running {
  Running(std::shared_ptr<Job> j, Engine* engine)
      : job(std::move(j)),
        session(std::make_unique<Session>(engine)),
        text(job->request_.stop),
        decoder(*engine->tokenizer(), /*skip_special=*/true) {}
  std::shared_ptr<Job> job;
  std::unique_ptr<Session> session;
  TextStream text;
  StreamDecoder decoder;
  GenerationResult result;
  bool finished = false;
};

bool Scheduler::Accept(Running& r, int32_t id) {
  const GenerationRequest& q = r.job->request_;
  auto finish = [&](const char* reason) {
    r.finished = true;
    r.result.finish_reason = reason;
    if (!r.job->cancelled() && !r.text.stopped()) {
      const std::string rest = r.text.Push(r.decoder.Flush());
      r.job->Emit(rest + (r.text.stopped() ? "" : r.text.Finish()), nullptr, 0);
    }
    Done(r.job, std::move(r.result));
    return false;
  };
  if (r.job->cancelled() || stop_) return finish("cancelled");
  ++r.result.completion_tokens;
  CountTokens(1);
  if (std::find(q.options.stop_ids.begin(), q.options.stop_ids.end(), id) !=
      q.options.stop_ids.end()) {
    return finish("stop");
  }
  const std::string out = r.text.Push(r.decoder.Push(id));
  if (!out.empty()) r.job->Emit(out, nullptr, 0);
  if (r.text.stopped()) return finish("stop");
  if (r.result.completion_tokens >= q.options.max_tokens) return finish("length");
  return true;
}

void Scheduler::Work() {
  std::vector<std::unique_ptr<Running>> active;
  std::vector<Session*> sessions;
  std::vector<int32_t> next;
  while (true) {
    // Admit waiting jobs while there is room; a job that must run alone waits for the batch.
    while (static_cast<int>(active.size()) < max_batch_) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active.empty(); });
        if (queue_.empty()) {
          if (stopping_ && active.empty()) return;
          break;
        }
        const bool alone = queue_.front()->request_.speak || engine_->sage() != nullptr;
        if (alone && !active.empty()) break;
        job = std::move(queue_.front());
        queue_.pop_front();
        stats_.queued = static_cast<int64_t>(queue_.size());
        stats_.running = static_cast<int64_t>(active.size()) + 1;
        if (alone) {
          lock.unlock();
          RunAlone(job);
          lock.lock();
          stats_.running = static_cast<int64_t>(active.size());
          continue;
        }
      }
      auto r = std::make_unique<Running>(job, engine_);
      if (job->cancelled()) {
        r->result.finish_reason = "cancelled";
        Done(job, std::move(r->result));
        continue;
      }
      GenerateStats stats;
      StatusOr<int32_t> first = Internal("not started");
      try {
        first = r->session->Start(job->request_.prompt, job->request_.options, &stats);
      } catch (const std::bad_alloc&) {
        first = ResourceExhausted("out of memory while reading the prompt");
      }
      if (!first.ok()) {
        r->result.status = first.status();
        r->result.finish_reason = "error";
        Done(job, std::move(r->result));
        continue;
      }
      r->result.prompt_tokens = stats.prompt_tokens;
      r->result.ttft_seconds = stats.ttft_seconds;
      if (Accept(*r, *first)) active.push_back(std::move(r));
    }
    {
      std::lock_guard lock(mu_);
      stats_.running = static_cast<int64_t>(active.size());
    }
    if (active.empty()) continue;
    // One decode step of every running answer.
    sessions.clear();
    for (const auto& r : active) sessions.push_back(r->session.get());
    Status step;
    try {
      step = Session::StepBatch(sessions, &next);
    } catch (const std::bad_alloc&) {
      step = ResourceExhausted("out of memory while answering");
    }
    {
      std::lock_guard lock(mu_);
      ++stats_.decode_steps;
      stats_.decode_tokens += sessions.size();
    }
    for (size_t i = 0; i < active.size(); ++i) {
      Running& r = *active[i];
      if (!step.ok()) {
        r.result.status = step;
        r.result.finish_reason = "error";
        r.finished = true;
        Done(r.job, std::move(r.result));
      } else {
        Accept(r, next[i]);
      }
    }
    std::erase_if(active, [](const std::unique_ptr<Running>& r) { return r->finished; });
    std::lock_guard lock(mu_);
    stats_.running = static_cast<int64_t>(active.size());
  }
}

void Scheduler::RunAlone(const std::shared_ptr<Job>& job) {
  GenerationResult result;
  if (job->cancelled()) {
    result.finish_reason = "cancelled";
    return Done(job, std::move(result));
  }
  const GenerationRequest& r = job->request_;
  const Tokenizer& tok = *engine_->tokenizer();
  const auto start = Clock::now();
  TextStream text(r.stop);
  StreamDecoder decoder(tok, /*skip_special=*/true);
  auto on_token = [&](int32_t id) {
    if (job->cancelled()) return false;
    if (result.completion_tokens++ == 0) {
      result.ttft_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    }
    CountTokens(1);
    if (std::find(r.options.stop_ids.begin(), r.options.stop_ids.end(), id) !=
        r.options.stop_ids.end()) {
      return true;
    }
    const std::string out = text.Push(decoder.Push(id));
    if (!out.empty()) job->Emit(out, nullptr, 0);
    return !text.stopped();
  };
  StatusOr<GenerateStats> stats = GenerateStats{};
  try {
    Session session(engine_);
    if (r.speak) {
      auto answer = speaker_->Generate(&session, r.prompt, r.options, r.speak_options, on_token,
                                       [&](const float* samples, int64_t n) {
                                         job->Emit("", samples, n);
                                         return Status::Ok();
                                       });
      stats = answer.ok() ? StatusOr<GenerateStats>(answer->text)
                          : StatusOr<GenerateStats>(answer.status());
    } else {
      stats = session.Generate(r.prompt, r.options, on_token);
    }
  } catch (const std::bad_alloc&) {
    stats = ResourceExhausted(
        "out of memory while answering (a smaller --context or --budget "
        "needs less)");
  }
  if (!stats.ok()) {
    result.status = stats.status();
    result.finish_reason = "error";
    return Done(job, std::move(result));
  }
  result.prompt_tokens = stats->prompt_tokens;
  if (!text.stopped()) {
    const std::string rest = text.Push(decoder.Flush());
    job->Emit(rest + (text.stopped() ? "" : text.Finish()), nullptr, 0);
  }
  result.finish_reason = job->cancelled()                     ? "cancelled"
                         : (stats->stopped || text.stopped()) ? "stop"
                                                              : "length";
  Done(job, std::move(result));
}

}  // namespace omnisage

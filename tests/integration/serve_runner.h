// A running `omnisage serve` for tests: started on an ephemeral port (--port 0) of the loopback
// interface, its port read from the line it prints when listening, stopped with SIGTERM (and
// reaped) when the object goes away. Its stderr is collected for failure messages.
#pragma once

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "source_paths.h"

namespace omnisage {

class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ~ServeProcess() { Stop(); }

  // Runs `omnisage serve --port 0 <args>` and waits (up to 60 s) until it listens. False when it
  // exits or never says where it listens; log() then says why.
  bool Start(const std::string& args) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 2);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      close(fds[0]);
      const std::string cmd =
          "exec " + ::omnisage::test_paths::OmnisageBinary() + " serve --port 0 " + args;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string seen;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
      const std::string marker = "listening on http://127.0.0.1:";
      const size_t at = seen.find(marker);
      if (at != std::string::npos && seen.find(' ', at + marker.size()) != std::string::npos) {
        port_ = std::stoi(seen.substr(at + marker.size()));
        break;
      }
    }
    {
      std::lock_guard lock(mu_);
      log_ = seen;
    }
    if (port_ <= 0) return false;
    drain_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd_, buf, sizeof(buf))) > 0) {
        std::lock_guard lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
      }
    });
    return true;
  }

  // True while the process runs.
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return false;
    }
    return true;
  }

  // SIGTERM, then its exit status (as waitpid gives it); -1 when it was not running.
  int Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      exit_status_ = status;
    }
    if (drain_.joinable()) drain_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return exit_status_;
  }

  int port() const { return port_; }
  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  // A client with generous timeouts: on a loaded machine a request may wait behind others for
  // a server thread, and httplib's default 5 s write timeout would fail a large body (the load
  // test's 150 KB one) that the server has not started reading yet.
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(60, 0);
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    return c;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = -1;
  int exit_status_ = -1;
  std::mutex mu_;
  std::string log_;
  std::thread drain_;
};

// POSTs `body` and collects a streamed answer's bytes; `stop_after` > 0 drops the connection
// once that many bytes came (a client that goes away).
struct StreamResult {
  int status = 0;
  std::string body;
  bool completed = false;
  httplib::Error error = httplib::Error::Success;
};
inline StreamResult PostStream(httplib::Client& client, const std::string& path,
                               const std::string& body, const httplib::Headers& headers = {},
                               size_t stop_after = 0) {
  StreamResult r;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    r.body.append(data, n);
    return stop_after == 0 || r.body.size() < stop_after;
  };
  httplib::Response res;
  r.completed = client.send(req, res, r.error);
  r.status = res.status;
  return r;
}

// The text of a streamed chat answer (its deltas' content, joined) and its chunks.
inline std::string StreamedText(const std::string& sse, std::vector<nlohmann::json>* chunks) {
  std::string text;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const size_t end = sse.find("\n\n", pos);
    const std::string data = sse.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") break;
    const nlohmann::json j = nlohmann::json::parse(data);
    if (chunks != nullptr) chunks->push_back(j);
    if (!j.contains("choices") || j["choices"].empty()) continue;
    const nlohmann::json& c = j["choices"][0];
    if (c.contains("delta") && c["delta"].contains("content") && c["delta"]["content"].is_string())
      text += c["delta"]["content"].get<std::string>();
    if (c.contains("text") && c["text"].is_string()) text += c["text"].get<std::string>();
  }
  return text;
}

}  // namespace omnisage

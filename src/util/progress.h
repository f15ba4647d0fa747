// A progress bar for long work: "[=====>    ]  42%  2.75 GiB / 6.50 GiB  1.21 GiB/s  ETA 3s".
//
// Draws on stderr only when stderr is a terminal (or when forced), at most ten times a second, so
// logs and pipes stay clean. Not thread-safe: one thread reports progress.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace omnisage {

class ProgressBar {
 public:
  // `total` in bytes (or items when `bytes` is false); `label` precedes the bar.
  ProgressBar(std::string label, uint64_t total, bool bytes = true);
  ~ProgressBar();

  void Update(uint64_t done);
  void Add(uint64_t delta) { Update(done_ + delta); }
  // Draws the final state and ends the line (only if anything was drawn).
  void Finish();
  bool enabled() const { return enabled_; }

 private:
  void Draw(bool final);

  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool bytes_;
  bool enabled_;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace omnisage

#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "util/elapsed.h"
#include "util/units.h"

namespace omnisage {

ProgressBar::ProgressBar(std::string label, uint64_t total, bool bytes)
    : label_(std::move(label)),
      total_(total),
      bytes_(bytes),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(false);
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  Draw(true);
  std::fputc('\n', stderr);
}

void ProgressBar::Draw(bool final) {
  drawn_ = true;
  double secs = SecondsSince(start_);
  double frac = total_ == 0 ? 1.0 : static_cast<double>(done_) / static_cast<double>(total_);
  if (frac > 1) frac = 1;
  constexpr int kWidth = 30;
  int fill = static_cast<int>(frac * kWidth);
  std::string bar(fill, '=');
  if (fill < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  auto amount = [&](double v) {
    return bytes_ ? FormatBytes(static_cast<uint64_t>(v)) : fmt::format("{:.0f}", v);
  };
  std::string eta = "--";
  if (final) {
    eta = fmt::format("{:.1f}s", secs);
  } else if (rate > 0) {
    eta = fmt::format("{:.0f}s", static_cast<double>(total_ - done_) / rate);
  }
  std::fprintf(stderr, "\r%s [%s] %3.0f%%  %s / %s  %s/s  %s %s\x1b[K", label_.c_str(), bar.c_str(),
               frac * 100, amount(static_cast<double>(done_)).c_str(),
               amount(static_cast<double>(total_)).c_str(), amount(rate).c_str(),
               final ? "in" : "ETA", eta.c_str());
  std::fflush(stderr);
}

}  // namespace omnisage

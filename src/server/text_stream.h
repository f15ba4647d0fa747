// The answer's text as a client sees it: decoded pieces in, text out, with the request's stop
// strings applied as OpenAI does — the answer ends before the first stop string, which is not
// part of it. Text that might be the start of a stop string is held back until it is known not
// to be. Not thread-safe; one per answer.
#pragma once

#include <string>
#include <vector>

namespace omnisage {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {}

  // Appends `piece`; returns the text that can be sent now. Once a stop string is seen, stopped()
  // is true and later pieces are ignored.
  std::string Push(const std::string& piece);
  // The text held back (none after a stop string).
  std::string Finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stop_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace omnisage

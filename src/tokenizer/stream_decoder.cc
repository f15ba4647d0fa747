#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace omnisage {

std::string StreamDecoder::Push(int32_t id) {
  std::string out;
  if (id < 0 || id >= tokenizer_.vocab_size()) return out;
  if (tokenizer_.IsAdded(id)) {
    if (skip_special_ && tokenizer_.IsSpecial(id)) return out;
    AppendUtf8Lossy(pending_, &out);
    pending_.clear();
    out += tokenizer_.TokenBytes(id);
    return out;
  }
  pending_ += tokenizer_.TokenBytes(id);
  // Emit everything up to a truncated (still completable) character at the very end.
  size_t keep_from = pending_.size();
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Step step = ScanUtf8(pending_, i);
    if (step.kind == Utf8Kind::kTruncated) {
      keep_from = i;
      break;
    }
    i += step.length;
  }
  AppendUtf8Lossy(std::string_view(pending_).substr(0, keep_from), &out);
  pending_.erase(0, keep_from);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  AppendUtf8Lossy(pending_, &out);
  pending_.clear();
  return out;
}

}  // namespace omnisage

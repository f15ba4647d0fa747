// StreamDecoder: turns ids arriving one at a time (a generation loop) into text that is always
// valid UTF-8.
//
// The rule: bytes are emitted as soon as they are known to be final. A BPE token may end in the
// middle of a UTF-8 character (Qwen splits many CJK characters and emoji across tokens), so the
// incomplete character at the end is held back until the next token completes it. Bytes that can
// never form a character are emitted as U+FFFD right away (one per maximal invalid subpart), and
// an added token first settles the bytes before it (an incomplete character there becomes U+FFFD),
// then emits its content. Flush ends the stream: what is still held becomes U+FFFD.
// Concatenating every Push and the final Flush gives exactly Tokenizer::Decode of all the ids.
//
// Thread-compatible: one StreamDecoder per stream; the Tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace omnisage {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // The text that `id` completes (often empty, never broken UTF-8).
  std::string Push(int32_t id);

  // The rest of the stream; afterwards the decoder starts afresh.
  std::string Flush();

  // Bytes held back, waiting for the rest of a character (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace omnisage

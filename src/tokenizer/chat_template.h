// The ChatML prompt format of Qwen3 / Qwen3-Omni (spec §9), text only:
//
//   <|im_start|>{role}\n{content}<|im_end|>\n     for every message, in order
//   <|im_start|>assistant\n                        the generation prompt, when asked for
//
// Generation stops at <|im_end|> (kChatStopToken). Roles are "system", "user" and "assistant".
// Content is inserted verbatim: an added token spelled inside it (e.g. "<|im_start|>") is
// recognised by Tokenizer::Encode like any other, as with HF's template. Media parts become
// placeholder blocks in the content (runtime/messages.h); tool calls are not rendered here yet,
// nor are <think> blocks stripped from earlier assistant turns. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace omnisage {

inline constexpr std::string_view kChatStart = "<|im_start|>";
inline constexpr std::string_view kChatEnd = "<|im_end|>";
inline constexpr std::string_view kChatStopToken = kChatEnd;

struct ChatMessage {
  std::string role;
  std::string content;
};

class Tokenizer;

// OK when `tokenizer` has the ChatML markers (kChatStart, kChatEnd) as added tokens. Without them
// a chat prompt encodes as plain text and generation never meets its stop token, so their absence
// is an InvalidArgument naming `source` (the tokenizer file) and the missing marker.
Status CheckChatMarkers(const Tokenizer& tokenizer, const std::string& source);

// The prompt text for `messages`; an unknown role is an InvalidArgument naming the message.
StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt = true);

}  // namespace omnisage

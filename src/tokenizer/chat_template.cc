#include "tokenizer/chat_template.h"

#include <fmt/format.h>

#include "tokenizer/tokenizer.h"

namespace omnisage {

StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      return InvalidArgument(
          fmt::format("chat message {}: role '{}': expected system, user or assistant", i, m.role));
    }
    out.append(kChatStart).append(m.role).append("\n").append(m.content);
    out.append(kChatEnd).append("\n");
  }
  if (add_generation_prompt) out.append(kChatStart).append("assistant\n");
  return out;
}

Status CheckChatMarkers(const Tokenizer& tokenizer, const std::string& source) {
  for (std::string_view marker : {kChatStart, kChatEnd}) {
    const int32_t id = tokenizer.TokenId(marker);
    if (id < 0 || !tokenizer.IsAdded(id)) {
      return InvalidArgument(fmt::format(
          "{}: added_tokens: the chat marker {} is missing (a chat prompt would be read as plain "
          "text and the answer would never stop); use the model's own tokenizer files",
          source, marker));
    }
  }
  return Status::Ok();
}

}  // namespace omnisage

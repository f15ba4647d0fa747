#include "tokenizer/chat_template.h"

#include <fmt/format.h>

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

}  // namespace omnisage

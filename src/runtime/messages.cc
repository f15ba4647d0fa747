#include "runtime/messages.h"

#include <fmt/format.h>

#include <filesystem>

#include "io/file.h"
#include "tokenizer/chat_template.h"
#include "util/json_fields.h"

namespace omnisage {
namespace {

using nlohmann::json;

// A media part's path: relative paths are relative to the messages file.
std::string Resolve(const std::string& path, const std::string& file) {
  const std::filesystem::path p(path);
  if (p.is_absolute() || file.empty()) return path;
  return (std::filesystem::path(file).parent_path() / p).lexically_normal().string();
}

StatusOr<MessagePart> ParsePart(const json& part, const JsonPath& at, const std::string& file) {
  if (!part.is_object()) return at.Error("expected an object {\"type\": ..., ...}");
  OMNI_ASSIGN_OR_RETURN(const std::string type, GetString(part, "type", at));
  MessagePart p;
  if (type == "text") {
    OMNI_ASSIGN_OR_RETURN(p.text, GetString(part, "text", at));
    return p;
  }
  if (type != "audio" && type != "image" && type != "video") {
    return at.Child("type").Error(fmt::format("'{}': expected text, audio, image or video", type));
  }
  p.kind = type == "audio"   ? MessagePart::Kind::kAudio
           : type == "image" ? MessagePart::Kind::kImage
                             : MessagePart::Kind::kVideo;
  // transformers accepts the file under the type's name or under "path" (and "url").
  const char* key = part.contains(type) ? type.c_str() : part.contains("path") ? "path" : "url";
  OMNI_ASSIGN_OR_RETURN(const std::string path, GetString(part, key, at));
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0) {
    return at.Child(key).Error(fmt::format("'{}': only local files are read", path));
  }
  p.path = Resolve(path, file);
  return p;
}

}  // namespace

StatusOr<std::vector<Message>> ParseMessages(const json& root, const std::string& file) {
  const JsonPath top(file);
  if (!root.is_array()) return top.Error("expected a list of {\"role\", \"content\"} messages");
  std::vector<Message> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const JsonPath at = top.Child(fmt::format("[{}]", i));
    const json& m = root[i];
    if (!m.is_object()) return at.Error("expected an object {\"role\", \"content\"}");
    Message msg;
    OMNI_ASSIGN_OR_RETURN(msg.role, GetString(m, "role", at));
    if (!m.contains("content")) return at.Child("content").Error("missing");
    const json& content = m["content"];
    if (content.is_string()) {
      msg.parts.push_back({MessagePart::Kind::kText, content.get<std::string>(), ""});
    } else if (content.is_array()) {
      for (size_t k = 0; k < content.size(); ++k) {
        OMNI_ASSIGN_OR_RETURN(
            MessagePart part,
            ParsePart(content[k], at.Child("content").Child(fmt::format("[{}]", k)), file));
        msg.parts.push_back(std::move(part));
      }
    } else {
      return at.Child("content").Error("expected a string or a list of parts");
    }
    out.push_back(std::move(msg));
  }
  if (out.empty()) return top.Error("no messages");
  return out;
}

StatusOr<std::vector<Message>> LoadMessages(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  OMNI_ASSIGN_OR_RETURN(const json root, ParseJson(text, path));
  return ParseMessages(root, path);
}

StatusOr<RenderedMessages> RenderMessages(const std::vector<Message>& messages,
                                          bool add_generation_prompt) {
  RenderedMessages out;
  std::vector<ChatMessage> chat;
  for (size_t i = 0; i < messages.size(); ++i) {
    ChatMessage c{messages[i].role, ""};
    for (const MessagePart& p : messages[i].parts) {
      switch (p.kind) {
        case MessagePart::Kind::kText:
          c.content += p.text;
          break;
        case MessagePart::Kind::kAudio:
          c.content += kAudioPlaceholder;
          out.audio_paths.push_back(p.path);
          break;
        case MessagePart::Kind::kImage:
          c.content += kImagePlaceholder;
          out.image_paths.push_back(p.path);
          break;
        case MessagePart::Kind::kVideo:
          c.content += kVideoPlaceholder;
          out.video_paths.push_back(p.path);
          break;
      }
    }
    chat.push_back(std::move(c));
  }
  OMNI_ASSIGN_OR_RETURN(out.text, RenderChat(chat, add_generation_prompt));
  return out;
}

}  // namespace omnisage

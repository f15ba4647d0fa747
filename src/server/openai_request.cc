#include "server/openai_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "media/image_file.h"
#include "server/base64.h"
#include "server/data_url.h"

namespace omnisage {
namespace {

using json = nlohmann::json;

ApiError Bad(std::string param, std::string message) {
  return ApiError{400, std::move(message), std::move(param), "invalid_request_error"};
}

// "top-p" → "top_p": a flag's name as a request field.
std::string FieldName(std::string_view flag) {
  std::string s(flag);
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// Reads the fields GenerateOptions::ForEach lists from a request, each checked against its
// declaration; keeps the first error.
class OptionReader {
 public:
  explicit OptionReader(const json& body) : body_(body) {}
  void operator()(bool&, const OptionSpec&) {}
  void operator()(std::string&, const OptionSpec&) {}
  template <typename T>
  requires std::is_arithmetic_v<T>
  void operator()(T& field, const OptionSpec& spec) {
    if (error_) return;
    std::string key = FieldName(spec.name);
    auto it = body_.find(key);
    if (key == "max_tokens" && (it == body_.end() || it->is_null())) {
      key = "max_completion_tokens";
      it = body_.find(key);
    }
    if (it == body_.end() || it->is_null()) return;
    constexpr bool integral = std::is_integral_v<T>;
    if (!it->is_number() || (integral && !it->is_number_integer())) {
      error_ = Bad(key, fmt::format("{} must be {} (got {})", key,
                                    integral ? "an integer" : "a number", it->dump()));
      return;
    }
    const double v = it->template get<double>();
    if (Status s = CheckOption(v, integral, spec); !s.ok()) {
      std::string message = s.message();
      const std::string flag = "--" + std::string(spec.name);
      if (message.rfind(flag, 0) == 0) message = key + message.substr(flag.size());
      error_ = Bad(key, message);
      return;
    }
    if constexpr (integral && std::is_unsigned_v<T>) {
      if (it->is_number_unsigned()) {
        field = static_cast<T>(it->template get<uint64_t>());
      } else {
        const int64_t i = it->template get<int64_t>();
        if (i < 0) {
          error_ = Bad(key, fmt::format("{} must be >= 0 (got {})", key, i));
          return;
        }
        field = static_cast<T>(i);
      }
    } else if constexpr (integral) {
      if (v > static_cast<double>(std::numeric_limits<T>::max()) ||
          v < static_cast<double>(std::numeric_limits<T>::min())) {
        error_ = Bad(key, fmt::format("{} is too large (got {})", key, it->dump()));
        return;
      }
      field = static_cast<T>(it->template get<int64_t>());
    } else {
      field = static_cast<T>(v);
    }
  }
  const std::optional<ApiError>& error() const { return error_; }

 private:
  const json& body_;
  std::optional<ApiError> error_;
};

// A content part of messages[i].content[j].
std::optional<ApiError> ParsePart(const json& part, const std::string& where,
                                  const ApiCapabilities& caps, ApiRequest* out, Message* message) {
  if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
    return Bad(where, where + ": a content part is an object with a string 'type'");
  }
  const std::string type = part["type"];
  if (type == "text") {
    if (!part.contains("text") || !part["text"].is_string()) {
      return Bad(where + ".text", where + ": a text part needs a string 'text'");
    }
    message->parts.push_back({MessagePart::Kind::kText, part["text"], ""});
    return std::nullopt;
  }
  if (type == "input_audio") {
    if (!caps.audio_input) {
      return Bad(where, where +
                            ": input_audio is not supported by this model (it has no audio "
                            "encoder)");
    }
    const json* audio = part.contains("input_audio") ? &part["input_audio"] : nullptr;
    if (audio == nullptr || !audio->is_object() || !audio->contains("data") ||
        !(*audio)["data"].is_string()) {
      return Bad(where + ".input_audio.data",
                 where + ": input_audio needs {\"data\": base64 audio, \"format\": \"wav\"}");
    }
    if (audio->contains("format")) {
      const json& f = (*audio)["format"];
      static const std::vector<std::string> kFormats = {"wav", "mp3", "flac", "ogg"};
      if (!f.is_string() || std::find(kFormats.begin(), kFormats.end(), f) == kFormats.end()) {
        return Bad(where + ".input_audio.format",
                   fmt::format("{}: input_audio.format must be wav, mp3, flac or ogg (got {})",
                               where, f.dump()));
      }
    }
    std::optional<std::string> bytes = Base64Decode((*audio)["data"].get<std::string>());
    if (!bytes) {
      return Bad(where + ".input_audio.data", where + ": input_audio.data is not base64");
    }
    auto clip = AudioClipFromBytes(where, std::move(*bytes));
    if (!clip.ok()) return Bad(where + ".input_audio.data", clip.status().message());
    out->audio.push_back(std::move(*clip));
    message->parts.push_back({MessagePart::Kind::kAudio, "", where});
    return std::nullopt;
  }
  if (type == "image_url") {
    if (!caps.image_input) {
      return Bad(where,
                 fmt::format("{}: image_url parts are not supported by this model ({})", where,
                             caps.no_image_reason.empty() ? "it has no vision encoder"
                                                          : caps.no_image_reason));
    }
    // {"image_url": {"url": ..., "detail": ...}} (detail is ignored: the image processor decides
    // the resolution); a bare string is taken too.
    const json body = part.contains("image_url") ? part["image_url"] : json();
    const json url = body.is_object() && body.contains("url") ? body["url"] : body;
    const std::string field = where + ".image_url.url";
    if (!url.is_string()) {
      return Bad(field, where + ": image_url needs {\"url\": \"data:image/png;base64,...\"}");
    }
    const std::string& text = url.get_ref<const std::string&>();
    if (!IsDataUrl(text)) {
      return Bad(field, fmt::format("{}: only data URLs are accepted (data:image/png;base64,...; "
                                    "PNG, JPEG or WebP): this server downloads nothing (got '{}')",
                                    where, text.substr(0, std::min<size_t>(text.size(), 40))));
    }
    auto data = ParseDataUrl(text, where);
    if (!data.ok()) return Bad(field, data.status().message());
    // Decoded from memory, by its signature; errors name the part.
    auto image = DecodeImage(*NewMemoryFile(where, std::move(data->bytes)));
    if (!image.ok()) return Bad(field, image.status().message());
    out->images.push_back({where, std::move(*image)});
    message->parts.push_back({MessagePart::Kind::kImage, "", where});
    return std::nullopt;
  }
  if (type == "video_url") {
    if (!caps.image_input) {
      return Bad(where,
                 fmt::format("{}: video_url parts are not supported by this model ({})", where,
                             caps.no_image_reason.empty() ? "it has no vision encoder"
                                                          : caps.no_image_reason));
    }
    const json body = part.contains("video_url") ? part["video_url"] : json();
    const json url = body.is_object() && body.contains("url") ? body["url"] : body;
    const std::string field = where + ".video_url.url";
    if (!url.is_string()) {
      return Bad(field, where + ": video_url needs {\"url\": \"data:video/mp4;base64,...\"}");
    }
    const std::string& text = url.get_ref<const std::string&>();
    if (!IsDataUrl(text)) {
      return Bad(field, fmt::format("{}: only data URLs are accepted (data:video/mp4;base64,...): "
                                    "this server downloads nothing (got '{}')",
                                    where, text.substr(0, std::min<size_t>(text.size(), 40))));
    }
    auto data = ParseDataUrl(text, where);
    if (!data.ok()) return Bad(field, data.status().message());
    // The FFmpeg reader takes a path: the bytes go to a private temporary file, probed (and its
    // sound decoded when heard) now, so that a file it cannot read is this part's 400.
    auto file = ScratchFile::Write(where, data->bytes);
    if (!file.ok()) return ApiError{500, file.status().message(), field, "server_error"};
    out->video_files.push_back(*file);
    auto video = LoadVideoInput((*file)->path(), out->use_audio_in_video);
    if (!video.ok()) return Bad(field, NameVideoParts(video.status().message(), *out));
    out->videos.push_back(std::move(*video));
    message->parts.push_back({MessagePart::Kind::kVideo, "", where});
    return std::nullopt;
  }
  if (type == "video") {
    return Bad(where + ".type", fmt::format("{}: a video part is {{\"type\": \"video_url\", "
                                            "\"video_url\": {{\"url\": a data URL}}}}",
                                            where));
  }
  return Bad(where + ".type", fmt::format("{}: unknown content part type '{}' (text, input_audio, "
                                          "image_url, video_url)",
                                          where, type));
}

std::optional<ApiError> ParseMessages(const json& body, const ApiCapabilities& caps,
                                      ApiRequest* out) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return Bad("messages", "messages must be a non-empty list of {role, content}");
  }
  const json& messages = body["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string where = fmt::format("messages[{}]", i);
    const json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Bad(where + ".role", where + ": a message is an object with a string 'role'");
    }
    Message message{m["role"], {}};
    if (message.role == "developer") message.role = "system";
    const json content = m.contains("content") ? m["content"] : json();
    if (content.is_string()) {
      message.parts.push_back({MessagePart::Kind::kText, content, ""});
    } else if (content.is_array()) {
      for (size_t j = 0; j < content.size(); ++j) {
        if (auto e = ParsePart(content[j], fmt::format("{}.content[{}]", where, j), caps, out,
                               &message)) {
          return e;
        }
      }
    } else if (!content.is_null()) {
      return Bad(where + ".content", where + ": content must be a string or a list of parts");
    }
    out->messages.push_back(std::move(message));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseStop(const json& body, ApiRequest* out) {
  if (!body.contains("stop") || body["stop"].is_null()) return std::nullopt;
  const json& stop = body["stop"];
  const json list = stop.is_string() ? json::array({stop}) : stop;
  if (!list.is_array() || list.size() > 4) {
    return Bad("stop", "stop must be a string or a list of at most 4 strings");
  }
  for (const json& s : list) {
    if (!s.is_string() || s.get<std::string>().empty()) {
      return Bad("stop", "stop must be a string or a list of at most 4 non-empty strings");
    }
    out->stop.push_back(s);
  }
  return std::nullopt;
}

std::optional<ApiError> ParseSpeech(const json& body, const ApiCapabilities& caps,
                                    ApiRequest* out) {
  if (!body.contains("modalities") || body["modalities"].is_null()) return std::nullopt;
  const json& modalities = body["modalities"];
  if (!modalities.is_array()) return Bad("modalities", "modalities must be a list");
  for (const json& m : modalities) {
    if (m == "audio") {
      out->speak = true;
    } else if (m != "text") {
      return Bad("modalities",
                 fmt::format("modalities: 'text' and 'audio' only (got {})", m.dump()));
    }
  }
  if (!out->speak) return std::nullopt;
  if (!out->chat) return Bad("modalities", "spoken answers are for /v1/chat/completions");
  if (!caps.speech_output) {
    if (!caps.no_speech_reason.empty()) {
      return Bad("modalities", "spoken answers are off: the talker could not be loaded (" +
                                   caps.no_speech_reason + ")");
    }
    return Bad("modalities",
               "spoken answers are off: start the server with --speech, on a "
               "Qwen3-Omni model with a talker");
  }
  const json audio = body.contains("audio") ? body["audio"] : json::object();
  if (!audio.is_object()) return Bad("audio", "audio must be {\"voice\", \"format\"}");
  if (audio.contains("voice")) {
    if (!audio["voice"].is_string()) return Bad("audio.voice", "audio.voice must be a string");
    out->voice = audio["voice"];
  }
  out->audio_format = "wav";
  if (audio.contains("format")) {
    if (audio["format"] != "wav" && audio["format"] != "pcm16") {
      return Bad("audio.format",
                 fmt::format("audio.format: wav or pcm16 (got {})", audio["format"].dump()));
    }
    out->audio_format = audio["format"];
  }
  return std::nullopt;
}

// A field that must keep its neutral value in this server.
std::optional<ApiError> Neutral(const json& body, const std::string& key, const json& neutral) {
  if (!body.contains(key) || body[key].is_null() || body[key] == neutral) return std::nullopt;
  return Bad(key, fmt::format("{} is not supported (only {})", key, neutral.dump()));
}

std::optional<ApiError> Parse(const std::string& text, bool chat, const GenerateOptions& defaults,
                              const ApiCapabilities& caps, ApiRequest* out) {
  const json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Bad("", "the request body is not valid JSON");
  if (!body.is_object()) return Bad("", "the request body must be a JSON object");
  *out = ApiRequest{};
  out->chat = chat;
  out->options = defaults;
  if (body.contains("model")) {
    if (!body["model"].is_string()) return Bad("model", "model must be a string");
    out->model = body["model"];
  }
  // Before the parts: a video heard with its sound has its sound track decoded when it is read.
  if (body.contains("use_audio_in_video") && !body["use_audio_in_video"].is_null()) {
    if (!body["use_audio_in_video"].is_boolean()) {
      return Bad("use_audio_in_video", "use_audio_in_video must be true or false");
    }
    out->use_audio_in_video = body["use_audio_in_video"].get<bool>();
    if (out->use_audio_in_video && !caps.audio_input) {
      return Bad("use_audio_in_video",
                 "use_audio_in_video: this model cannot hear a video's sound (it has no audio "
                 "encoder)");
    }
  }
  if (body.contains("mm_processor_kwargs") && body["mm_processor_kwargs"].is_object() &&
      body["mm_processor_kwargs"].contains("use_audio_in_video")) {
    return Bad("mm_processor_kwargs.use_audio_in_video",
               "mm_processor_kwargs.use_audio_in_video is not read here: send use_audio_in_video "
               "at the top of the request");
  }
  if (chat) {
    if (auto e = ParseMessages(body, caps, out)) return e;
  } else {
    json prompt = body.contains("prompt") ? body["prompt"] : json();
    if (prompt.is_array() && prompt.size() == 1) prompt = prompt[0];
    if (!prompt.is_string() || prompt.get<std::string>().empty()) {
      return Bad("prompt", "prompt must be a non-empty string (or a list of one)");
    }
    out->prompt = prompt;
  }
  OptionReader reader(body);
  out->options.ForEach(reader);
  if (reader.error()) return reader.error();
  if (out->options.max_tokens > caps.max_tokens_limit) {
    return Bad("max_tokens", fmt::format("max_tokens {} is more than this server allows ({})",
                                         out->options.max_tokens, caps.max_tokens_limit));
  }
  if (auto e = ParseStop(body, out)) return e;
  for (const char* key : {"stream", "echo", "ignore_eos"}) {
    if (body.contains(key) && !body[key].is_boolean() && !body[key].is_null()) {
      return Bad(key, fmt::format("{} must be true or false", key));
    }
  }
  out->stream = body.value("stream", json(false)).is_boolean() && body.value("stream", false);
  out->ignore_eos = body.contains("ignore_eos") && body["ignore_eos"].is_boolean() &&
                    body["ignore_eos"].get<bool>();
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    const json& usage = body["stream_options"].value("include_usage", json(false));
    if (!usage.is_boolean()) {
      return Bad("stream_options.include_usage",
                 "stream_options.include_usage must be true or "
                 "false");
    }
    out->include_usage = usage.get<bool>();
  }
  if (auto e = Neutral(body, "n", 1)) return e;
  if (auto e = Neutral(body, "echo", false)) return e;
  if (auto e = Neutral(body, "frequency_penalty", 0)) return e;
  if (auto e = Neutral(body, "presence_penalty", 0)) return e;
  if (auto e = Neutral(body, "logprobs", false)) return e;
  if (auto e = ParseSpeech(body, caps, out)) return e;
  return std::nullopt;
}

}  // namespace

json ErrorBody(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json() : json(e.param)},
            {"code", std::to_string(e.http_status)}}}};
}

std::optional<ApiError> ParseApiRequest(const std::string& text, bool chat,
                                        const GenerateOptions& defaults,
                                        const ApiCapabilities& caps, ApiRequest* out) {
  try {
    return Parse(text, chat, defaults, caps, out);
  } catch (const json::exception& e) {  // a field of an unexpected type that slipped through
    return Bad("", std::string("the request does not fit the API: ") + e.what());
  }
}

std::optional<ApiError> PromptText(const ApiRequest& request, std::string* text) {
  if (!request.chat) {
    *text = request.prompt;
    return std::nullopt;
  }
  auto rendered = RenderMessages(request.messages);
  if (!rendered.ok()) return Bad("messages", rendered.status().message());
  *text = std::move(rendered->text);
  return std::nullopt;
}

std::string NameVideoParts(std::string message, const ApiRequest& request, bool* named) {
  if (named != nullptr) *named = false;
  for (const auto& file : request.video_files) {
    for (size_t at = message.find(file->path()); at != std::string::npos;
         at = message.find(file->path(), at + file->part().size())) {
      message.replace(at, file->path().size(), file->part());
      if (named != nullptr) *named = true;
    }
  }
  return message;
}

}  // namespace omnisage

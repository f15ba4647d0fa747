// The OpenAI API's requests as the server reads them: POST /v1/chat/completions and POST
// /v1/completions bodies become an ApiRequest, or an ApiError that names the field.
//
// Sampling fields map onto the options declared once (GenerateOptions::ForEach, runtime/
// options.h): a flag "top-p" is the field "top_p", "max-tokens" is "max_tokens" (also read as
// max_completion_tokens), with the flag's range; what a request leaves out keeps the server's
// default (its command-line flags). Other fields: model (echoed), messages or prompt, stream,
// stream_options.include_usage, stop (a string or up to 4), n (1 only), modalities and audio
// {voice, format: "wav" | "pcm16"} for spoken answers; frequency_penalty, presence_penalty and
// logprobs are accepted at their neutral values only; ignore_eos (as vLLM) generates exactly
// max_tokens tokens. Unknown fields are ignored.
//
// Content parts: text; input_audio {data: base64, format: wav | mp3 | flac | ogg}; image_url
// {url: a data URL of a PNG, JPEG or WebP} on a model with a vision encoder, decoded here (an
// http(s) URL is refused: the server downloads nothing); video_url {url: a data URL of a video
// file FFmpeg reads, e.g. data:video/mp4;base64,...} on a model with a vision encoder, written to
// a private temporary file (server/scratch_file.h) and probed here (its sound track decoded when
// the request's use_audio_in_video is true: the video is then heard too, as run
// --use-audio-in-video). A part the model cannot take is a 400 that says so. Thread-safe; the
// only side effect is the videos' temporary files, removed with the request.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/media_prompt.h"
#include "runtime/messages.h"
#include "runtime/options.h"
#include "server/scratch_file.h"

namespace omnisage {

// An error for the client: the HTTP status and the fields of the OpenAI error object.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string param;  // the field, "" when none
  std::string type = "invalid_request_error";
};
// {"error": {"message", "type", "param", "code"}} (code: the HTTP status as a string).
nlohmann::json ErrorBody(const ApiError& e);

// What this server's engine can take and give.
struct ApiCapabilities {
  bool audio_input = false;      // a model with an audio encoder
  bool image_input = false;      // a model with a vision encoder
  std::string no_image_reason;   // why not, for the 400 ("" : it has no vision encoder)
  bool speech_output = false;    // serve --speech on a model with a talker
  std::string no_speech_reason;  // --speech given but the talker did not load: why
  int max_tokens_limit = 4096;
};

struct ApiRequest {
  bool chat = true;  // /v1/chat/completions, else /v1/completions
  std::string model;
  std::vector<Message> messages;   // chat: media parts name their part ("messages[0].content[1]")
  std::vector<AudioClip> audio;    // decoded input_audio parts, in order
  std::vector<ImageInput> images;  // decoded image_url parts, in order (named by their part)
  std::vector<VideoInput> videos;  // probed video_url parts, in order (named by their file)
  std::vector<std::shared_ptr<ScratchFile>> video_files;  // the videos' files, in order
  bool use_audio_in_video = false;  // the videos are heard with their own sound
  std::string prompt;               // completions: fed as is
  GenerateOptions options;          // the server's defaults, overridden by the request
  std::vector<std::string> stop;    // stop strings (not part of the answer)
  bool stream = false;
  bool include_usage = false;
  bool ignore_eos = false;   // vLLM's extension: generate past <|im_end|> (benchmarks)
  bool speak = false;        // modalities holds "audio"
  std::string voice;         // audio.voice
  std::string audio_format;  // "wav" (one file) or "pcm16" (streamed, 24 kHz mono s16le)
};

// Parses a request body. `defaults` are the server's generation options.
std::optional<ApiError> ParseApiRequest(const std::string& body, bool chat,
                                        const GenerateOptions& defaults,
                                        const ApiCapabilities& caps, ApiRequest* out);

// The prompt text: the chat's ChatML with placeholders (runtime/messages.h), or the completion's
// prompt as is. Errors name the message (an unknown role).
std::optional<ApiError> PromptText(const ApiRequest& request, std::string* text);

// `message` with each video's temporary file replaced by its part's name (errors from the video
// reader name the file); `*named` (may be null) says whether any was.
std::string NameVideoParts(std::string message, const ApiRequest& request, bool* named = nullptr);

}  // namespace omnisage

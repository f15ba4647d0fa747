// The OpenAI API's responses: chat.completion and text_completion objects, their streamed
// chunks (server-sent events, "data: {json}\n\n", ended by "data: [DONE]\n\n"), usage counts, and
// spoken answers as base64 audio (WAV: 16-bit PCM, 24 kHz mono; pcm16: the same samples without
// a header, as OpenAI streams them). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace omnisage {

// What every object of one answer shares.
struct AnswerHeader {
  bool chat = true;
  std::string id;  // "chatcmpl-…" or "cmpl-…"
  int64_t created = 0;
  std::string model;
};
AnswerHeader NewAnswerHeader(bool chat, const std::string& model);

nlohmann::ordered_json Usage(int64_t prompt_tokens, int64_t completion_tokens);

// The whole answer. `audio`: {"id", "data", "transcript", "expires_at"} or null.
nlohmann::ordered_json FullAnswer(const AnswerHeader& h, const std::string& text,
                                  const std::string& finish_reason,
                                  const nlohmann::ordered_json& usage,
                                  const nlohmann::ordered_json& audio);

// One streamed chunk. Chat: `delta` is {"role"?, "content"?, "audio"?}; completions: its
// "content" is the chunk's text. `finish_reason` and `usage` may be null.
nlohmann::ordered_json Chunk(const AnswerHeader& h, const nlohmann::ordered_json& delta,
                             const nlohmann::ordered_json& finish_reason,
                             const nlohmann::ordered_json& usage);

// "data: <json>\n\n".
std::string SseData(const nlohmann::ordered_json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// 16-bit PCM, clipped to [-1, 1]: as a WAV file, or raw little-endian samples.
std::string WavBytes(const std::vector<float>& samples, int sample_rate);
std::string Pcm16Bytes(const float* samples, size_t n);

}  // namespace omnisage

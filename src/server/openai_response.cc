#include "server/openai_response.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>

namespace omnisage {

using json = nlohmann::ordered_json;

AnswerHeader NewAnswerHeader(bool chat, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return {chat,
          fmt::format("{}-{:x}{:08x}", chat ? "chatcmpl" : "cmpl", salt & 0xffffffff,
                      counter.fetch_add(1)),
          now, model};
}

json Usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

json FullAnswer(const AnswerHeader& h, const std::string& text, const std::string& finish_reason,
                const json& usage, const json& audio) {
  json choice;
  if (h.chat) {
    // A spoken answer's text is its audio's transcript, as OpenAI gives it.
    json message = {{"role", "assistant"}, {"content", audio.is_null() ? json(text) : json()}};
    if (!audio.is_null()) message["audio"] = audio;
    choice = {{"index", 0},
              {"message", message},
              {"logprobs", nullptr},
              {"finish_reason", finish_reason}};
  } else {
    choice = {
        {"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  }
  return {{"id", h.id},
          {"object", h.chat ? "chat.completion" : "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array({choice})},
          {"usage", usage}};
}

json Chunk(const AnswerHeader& h, const json& delta, const json& finish_reason, const json& usage) {
  json choice;
  if (h.chat) {
    choice = {
        {"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  } else {
    choice = {{"index", 0},
              {"text", delta.value("content", "")},
              {"logprobs", nullptr},
              {"finish_reason", finish_reason}};
  }
  json j = {{"id", h.id},
            {"object", h.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"choices", usage.is_null() || !delta.empty() || !finish_reason.is_null()
                            ? json::array({choice})
                            : json::array()}};
  if (!usage.is_null()) j["usage"] = usage;
  return j;
}

std::string SseData(const json& j) {
  return "data: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

std::string Pcm16Bytes(const float* samples, size_t n) {
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    const float x = std::isfinite(samples[i]) ? std::clamp(samples[i], -1.0f, 1.0f) : 0.0f;
    const auto v = static_cast<int16_t>(std::lrint(x * 32767.0f));
    out[2 * i] = static_cast<char>(v & 0xff);
    out[2 * i + 1] = static_cast<char>((v >> 8) & 0xff);
  }
  return out;
}

std::string WavBytes(const std::vector<float>& samples, int sample_rate) {
  const std::string data = Pcm16Bytes(samples.data(), samples.size());
  std::string out;
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  auto u16 = [&](uint16_t v) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  };
  out += "RIFF";
  u32(static_cast<uint32_t>(36 + data.size()));
  out += "WAVEfmt ";
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(static_cast<uint32_t>(sample_rate));
  u32(static_cast<uint32_t>(sample_rate * 2));
  u16(2);
  u16(16);
  out += "data";
  u32(static_cast<uint32_t>(data.size()));
  return out + data;
}

}  // namespace omnisage

// run --speak / chat --speak end to end: WAV files written while the text streams, and the
// errors: an unknown voice, an unwritable path, speech flags without --speak, speech asked of a
// qwen3_moe model and of a checkpoint missing talker weights (the answer still comes as text,
// and the command fails because speech was asked for).
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_runner.h"

namespace omnisage {
namespace {

class SpeakCliTest : public CliTestDir {
 protected:
  SpeakCliTest() : CliTestDir(fmt::format("omnisage_speak_cli_{}_", getpid())) {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  }
};

// The WAV header's sample rate and the number of 16-bit mono samples.
std::pair<int, int64_t> WavFacts(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  if (bytes.size() < 44 || bytes.compare(0, 4, "RIFF") != 0 || bytes.compare(8, 4, "WAVE") != 0) {
    return {0, -1};
  }
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  const size_t data = bytes.find("data");
  return {static_cast<int>(u32(24)), static_cast<int64_t>(u32(data + 4)) / 2};
}

TEST_F(SpeakCliTest, RunSpeaksIntoAWavFile) {
  const std::string wav = Path("answer.wav");
  CliResult r = RunCli(
      fmt::format("run --model {} --prompt 'Hello' --max-tokens 8 --speak {} --speak-max-frames 30 "
                  "--speak-chunk 4 --voice chelsie --json",
                  Path("tiny"), wav),
      /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j["speech"].is_object()) << r.out;
  EXPECT_EQ(j["speech"]["frames"], 30);
  EXPECT_EQ(j["speech"]["sample_rate"], 24000);
  EXPECT_GT(j["speech"]["real_time_factor"].get<double>(), 0);
  const auto [rate, samples] = WavFacts(wav);
  EXPECT_EQ(rate, 24000);
  EXPECT_EQ(samples, j["speech"]["samples"].get<int64_t>());
  EXPECT_FALSE(std::filesystem::exists(wav + ".tmp"));
  // Under a budget (both stacks in one cache): the same waveform, the talker's statistics.
  const std::string budgeted = Path("budgeted.wav");
  r = RunCli(
      fmt::format("run --model {} --prompt 'Hello' --max-tokens 8 --speak {} --speak-max-frames 30 "
                  "--speak-chunk 4 --voice chelsie --budget 40% --json",
                  Path("tiny"), budgeted),
      /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto b = nlohmann::json::parse(r.out);
  EXPECT_GT(b["speech"]["talker_expert_cache"]["misses"].get<int64_t>(), 0);
  std::ifstream x(wav, std::ios::binary), y(budgeted, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(x)), {}),
            std::string((std::istreambuf_iterator<char>(y)), {}));
}

TEST_F(SpeakCliTest, ChatWritesOneWavPerAnswer) {
  const CliResult r = RunCli(fmt::format(
      "chat --model {} --max-tokens 4 --speak {} --speak-max-frames 5 <<'EOF'\nHi\nAgain\nEOF",
      Path("tiny"), dir_.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_GT(WavFacts(Path("answer-001.wav")).second, 0) << r.out;
  EXPECT_GT(WavFacts(Path("answer-002.wav")).second, 0) << r.out;
}

TEST_F(SpeakCliTest, BadSpeechRequestsAreClearErrors) {
  // An unknown voice lists the model's speakers; nothing is left behind.
  CliResult r = RunCli(fmt::format("run --model {} --prompt Hi --speak {} --voice nobody",
                                   Path("tiny"), Path("x.wav")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--voice 'nobody': not a speaker of this model (speakers: aiden, chelsie, "
                       "ethan)"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(Path("x.wav")));
  EXPECT_FALSE(std::filesystem::exists(Path("x.wav.tmp")));
  // An unwritable place is refused before the model loads.
  r = RunCli(fmt::format("run --model {} --prompt Hi --speak {}", Path("tiny"),
                         Path("no/such/dir/x.wav")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("is not a directory"), std::string::npos) << r.out;
  r = RunCli(fmt::format("run --model {} --prompt Hi --speak {}", Path("tiny"), dir_.string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("is a directory"), std::string::npos) << r.out;
  // Speech flags alone.
  r = RunCli(fmt::format("run --model {} --prompt Hi --speak-chunk 4", Path("tiny")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--speak-chunk needs --speak"), std::string::npos) << r.out;
  r = RunCli(fmt::format("run --model {} --prompt Hi --speak {} --speak-chunk 0", Path("tiny"),
                         Path("x.wav")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--speak-chunk"), std::string::npos) << r.out;
}

TEST_F(SpeakCliTest, NoTalkerAnswersInTextAndFails) {
  // qwen3_moe has no talker.
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  CliResult r = RunCli(fmt::format("run --model {} --prompt Hi --max-tokens 3 --speak {}",
                                   Path("moe"), Path("moe.wav")));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("speech output needs a Qwen3-Omni model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answering in text only"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode 3 tok"), std::string::npos) << r.out;  // the text answer came
  EXPECT_FALSE(std::filesystem::exists(Path("moe.wav")));
  // A checkpoint whose config promises a third talker layer it does not hold.
  const std::string config = Path("tiny") + "/config.json";
  std::ifstream in(config);
  nlohmann::json c = nlohmann::json::parse(in);
  in.close();
  c["talker_config"]["text_config"]["num_hidden_layers"] = 3;
  std::ofstream(config) << c.dump();
  r = RunCli(fmt::format("run --model {} --prompt Hi --max-tokens 3 --speak {}", Path("tiny"),
                         Path("t.wav")));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("tensor(s) missing: talker.model.layers.2.input_layernorm.weight"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("decode 3 tok"), std::string::npos) << r.out;
  // Without --speak the same checkpoint answers and succeeds.
  EXPECT_EQ(
      RunCli(fmt::format("run --model {} --prompt Hi --max-tokens 3", Path("tiny"))).exit_code, 0);
}

}  // namespace
}  // namespace omnisage

// Audio through the command line: run/eval/chat with --audio, --messages and /audio, and the
// errors a bad sound file gives (naming it, before any model is loaded).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "tone_wav.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class AudioCliTest : public CliTestDir {
 protected:
  AudioCliTest() : CliTestDir("omnisage_audio_cli_") {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
    WriteTone(Path("clip.wav"), 0.7);  // 70 mel frames, 9 audio tokens
  }
  std::string Model() const { return " --model " + Path("tiny"); }
};

TEST_F(AudioCliTest, RunHearsAClip) {
  const std::string ask = "run" + Model() + " --prompt 'What is this?' --max-tokens 6 --json";
  CliResult text = RunCli(ask);
  CliResult audio = RunCli(ask + " --audio " + Path("clip.wav"));
  ASSERT_EQ(text.exit_code, 0) << text.out;
  ASSERT_EQ(audio.exit_code, 0) << audio.out;
  auto jt = nlohmann::json::parse(text.out), ja = nlohmann::json::parse(audio.out);
  // <|audio_start|>, 9 × <|audio_pad|>, <|audio_end|>.
  EXPECT_EQ(ja["prompt_tokens"].get<int>(), jt["prompt_tokens"].get<int>() + 11);
  EXPECT_EQ(ja["token_ids"].size(), 6u);
  EXPECT_GT(ja["memory"]["audio_encoder_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(jt["memory"]["audio_encoder_bytes"].get<uint64_t>(), 0u);  // text never loads it
}

TEST_F(AudioCliTest, MessagesFileIsTheSameConversation) {
  std::ofstream(Path("messages.json")) << R"([
    {"role": "user", "content": [{"type": "audio", "audio": "clip.wav"},
                                 {"type": "text", "text": "What is this?"}]}])";
  CliResult flags = RunCli("run" + Model() + " --prompt 'What is this?' --audio " +
                           Path("clip.wav") + " --max-tokens 6 --json");
  CliResult messages =
      RunCli("run" + Model() + " --messages " + Path("messages.json") + " --max-tokens 6 --json");
  ASSERT_EQ(flags.exit_code, 0) << flags.out;
  ASSERT_EQ(messages.exit_code, 0) << messages.out;
  EXPECT_EQ(nlohmann::json::parse(messages.out)["token_ids"],
            nlohmann::json::parse(flags.out)["token_ids"]);
}

TEST_F(AudioCliTest, EvalMessagesWritesLogitsOfEveryPosition) {
  std::ofstream(Path("messages.json")) << R"([
    {"role": "system", "content": "Listen."},
    {"role": "user", "content": [{"type": "audio", "audio": "clip.wav"},
                                 {"type": "text", "text": "and"},
                                 {"type": "audio", "audio": "clip.wav"}]}])";
  CliResult r = RunCli("eval" + Model() + " --messages " + Path("messages.json") +
                       " --logits-out " + Path("l.f32"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // "[n, 4096]": n holds two clips of 9 tokens each.
  const size_t at = r.out.find("logits [");
  ASSERT_NE(at, std::string::npos) << r.out;
  const int n = std::stoi(r.out.substr(at + 8));
  EXPECT_GT(n, 2 * 11);
  EXPECT_EQ(fs::file_size(Path("l.f32")), static_cast<uintmax_t>(n) * 4096 * sizeof(float));
}

TEST_F(AudioCliTest, BadSoundFilesAreErrorsNamingTheFile) {
  std::ofstream(Path("garbage.wav")) << std::string(1000, 'x');
  std::ofstream(Path("empty.wav")) << "";
  WriteTone(Path("silent.wav"), 0.0);
  for (const char* name : {"missing.wav", "garbage.wav", "empty.wav", "silent.wav"}) {
    CliResult r =
        RunCli("run --model " + Path("no-such-model") + " --prompt hi --audio " + Path(name));
    EXPECT_NE(r.exit_code, 0) << name;
    // Named, and found before the (missing) model is opened.
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("no-such-model"), std::string::npos) << r.out;
  }
}

TEST_F(AudioCliTest, AVideoPartNamesItsFile) {
  std::ofstream(Path("messages.json")) << R"([
    {"role": "user", "content": [{"type": "video", "video": "cat.mp4"}, "x"]}])";
  CliResult bad = RunCli("run" + Model() + " --messages " + Path("messages.json"));
  EXPECT_NE(bad.exit_code, 0);
  std::ofstream(Path("video.json")) << R"([
    {"role": "user", "content": [{"type": "video", "video": "cat.mp4"},
                                 {"type": "text", "text": "What is it?"}]}])";
  CliResult r = RunCli("run" + Model() + " --messages " + Path("video.json"));
  EXPECT_NE(r.exit_code, 0);
  // Relative to the messages file, read before anything else.
  EXPECT_NE(r.out.find(Path("cat.mp4") + ": no such file"), std::string::npos) << r.out;
}

TEST_F(AudioCliTest, AudioLongerThanTheContextIsRefused) {
  WriteTone(Path("long.wav"), 12.0);  // 156 tokens
  CliResult r = RunCli("run" + Model() + " --context 64 --prompt hi --audio " + Path("long.wav"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("long.wav (12.0 s, 156 tokens)"), std::string::npos) << r.out;
}

TEST_F(AudioCliTest, ChatTakesAudioBetweenTurns) {
  std::ofstream(Path("turns.txt")) << "/audio " << Path("clip.wav") << "\nWhat is it?\n/audio "
                                   << Path("missing.wav") << "\nAnd now?\n";
  CliResult r = RunCli("chat" + Model() + " --max-tokens 4 < " + Path("turns.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("clip.wav: 0.7 s, goes with your next message"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing.wav"), std::string::npos) << r.out;
  const size_t turns = CountOf(r.out, "decode 4 tok");
  EXPECT_EQ(turns, 2u) << r.out;
}

}  // namespace
}  // namespace omnisage

// End-to-end tests of what chat does with input it cannot take: a message (or its answer) that
// outgrows the context is refused alone and the conversation goes on exactly as if it had never
// been sent; a bad /reward gets a message and changes nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli_runner.h"

namespace omnisage {
namespace {

class ChatCliTest : public CliTestDir {
 protected:
  ChatCliTest() : CliTestDir("omnisage_chat_cli_") {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  }
  // Runs chat on `turns` (one message per line); stdout alone (the answers) unless with_stderr.
  CliResult Chat(const std::string& flags, const std::string& turns, bool with_stderr) {
    const std::string file = Path("turns" + std::to_string(++files_) + ".txt");
    std::ofstream(file) << turns;
    return RunCli("chat --model " + Path("tiny") + " " + flags + " < " + file, with_stderr);
  }

 private:
  int files_ = 0;
};

TEST_F(ChatCliTest, AMessageThatDoesNotFitIsRefusedAndTheConversationGoesOn) {
  std::string long_message;
  for (int i = 0; i < 60; ++i) long_message += "word ";
  const std::string flags = "--context 48 --max-tokens 4";
  CliResult refused = Chat(flags, "first\n" + long_message + "\nthird\n", true);
  ASSERT_EQ(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.out.find("this message does not fit in the"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("the message is dropped and the conversation goes on"),
            std::string::npos);
  EXPECT_EQ(CountOf(refused.out, "[prompt "), 2u) << refused.out;  // first and third answered
  // The third answer is the one it gets when the refused message was never sent.
  CliResult with = Chat(flags, "first\n" + long_message + "\nthird\n", false);
  CliResult without = Chat(flags, "first\nthird\n", false);
  ASSERT_EQ(without.exit_code, 0);
  EXPECT_EQ(CountOf(without.out, "\n"), 2u) << "two answers, one line each";
  EXPECT_EQ(with.out, without.out);
}

TEST_F(ChatCliTest, AnAnswerThatRunsOutOfContextIsRefusedAndTheSessionContinues) {
  // "first" and its 16 tokens take 27 of 40 positions; "hi" fits, its answer does not.
  CliResult r = Chat("--context 40 --max-tokens 16", "first\nhi\n/reset\nfirst\n", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("the answer ran out of context after"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(--context 40)"), std::string::npos) << r.out;
  EXPECT_EQ(CountOf(r.out, "[prompt "), 2u) << r.out;
}

TEST_F(ChatCliTest, BadRewardIsAMessageNotAChange) {
  CliResult r = Chat("--mode sage --max-tokens 2 --trust-file " + Path("trust.json"),
                     "/reward abc\n/reward 2\n/reward nan\n/reward\n/reward 0.5 \nhello\n", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const std::string bad : {"abc", "2", "nan", ""}) {
    EXPECT_NE(r.out.find("/reward takes a number in [-1, 1], e.g. /reward 0.5 (got '" + bad + "')"),
              std::string::npos)
        << bad << ": " << r.out;
  }
  EXPECT_NE(r.out.find("reward 0.50"), std::string::npos) << r.out;
  EXPECT_EQ(CountOf(r.out, "[prompt "), 1u) << r.out;
}

}  // namespace
}  // namespace omnisage

// Stop strings as OpenAI applies them (the answer ends before the first one, which may arrive
// split over several pieces), and base64 both ways.
#include "server/text_stream.h"

#include <gtest/gtest.h>

#include "server/base64.h"

namespace omnisage {
namespace {

std::string Feed(TextStream& s, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += s.Push(p);
  return out + s.Finish();
}

TEST(TextStreamTest, WithoutStopStringsEverythingPassesAtOnce) {
  TextStream s({});
  EXPECT_EQ(s.Push("Hello"), "Hello");
  EXPECT_EQ(s.Push(", world"), ", world");
  EXPECT_EQ(s.Finish(), "");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStreamTest, TheAnswerEndsBeforeAStopStringSplitOverPieces) {
  TextStream s({"END"});
  EXPECT_EQ(s.Push("one E"), "one ");  // "E" may begin "END": held back
  EXPECT_EQ(s.Push("N"), "");
  EXPECT_EQ(s.Push("D two"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.Push("three"), "");
  EXPECT_EQ(s.Finish(), "");
}

TEST(TextStreamTest, HeldTextThatIsNotAStopStringIsSentLater) {
  TextStream s({"END", "\n\n"});
  EXPECT_EQ(Feed(s, {"a E", "Nx", "\n", "b"}), "a ENx\nb");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStreamTest, TheEarliestStopStringWins) {
  TextStream s({"world", "lo"});
  EXPECT_EQ(Feed(s, {"Hello world"}), "Hel");
  EXPECT_TRUE(s.stopped());
}

TEST(Base64Test, RoundTripsEveryLengthAndRejectsNonBase64) {
  std::string bytes;
  for (int n = 0; n < 20; ++n) {
    const std::string encoded = Base64Encode(bytes);
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(Base64Decode(encoded), bytes) << n;
    bytes += static_cast<char>(n * 37 + 200);
  }
  EXPECT_EQ(Base64Encode("Man"), "TWFu");
  EXPECT_EQ(Base64Encode("Ma"), "TWE=");
  EXPECT_EQ(Base64Decode("TWE="), "Ma");
  EXPECT_FALSE(Base64Decode("TWE"));
  EXPECT_FALSE(Base64Decode("TW%u"));
  EXPECT_FALSE(Base64Decode("TW u"));
}

}  // namespace
}  // namespace omnisage

// Images through the command line: run/eval/chat with --image, image parts in --messages and
// /image, and the errors a bad image or a model without a vision tower gives.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

// tests/golden/vision/exact.png: 96×64 → grid 4×6 → 6 image tokens.
const std::string kPng = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/exact.png";

class ImageCliTest : public CliTestDir {
 protected:
  ImageCliTest() : CliTestDir("omnisage_image_cli_") {}
  void SetUp() override {
    CliTestDir::SetUp();
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  }
  std::string Model() const { return " --model " + Path("tiny"); }
};

TEST_F(ImageCliTest, RunSeesAnImage) {
  const std::string ask = "run" + Model() + " --prompt 'What is this?' --max-tokens 6 --json";
  CliResult text = RunCli(ask);
  CliResult image = RunCli(ask + " --image " + kPng);
  CliResult two = RunCli(ask + " --image " + kPng + " --image " + kPng);
  ASSERT_EQ(text.exit_code, 0) << text.out;
  ASSERT_EQ(image.exit_code, 0) << image.out;
  ASSERT_EQ(two.exit_code, 0) << two.out;
  auto jt = nlohmann::json::parse(text.out), ji = nlohmann::json::parse(image.out),
       j2 = nlohmann::json::parse(two.out);
  // <|vision_start|>, 6 × <|image_pad|>, <|vision_end|> per image.
  EXPECT_EQ(ji["prompt_tokens"].get<int>(), jt["prompt_tokens"].get<int>() + 8);
  EXPECT_EQ(j2["prompt_tokens"].get<int>(), jt["prompt_tokens"].get<int>() + 16);
  EXPECT_GT(ji["memory"]["vision_encoder_bytes"].get<int64_t>(), 0) << image.out;
  EXPECT_EQ(jt["memory"]["vision_encoder_bytes"].get<int64_t>(), 0) << text.out;
}

TEST_F(ImageCliTest, MessagesWithAnImagePartMatchTheFlag) {
  std::ofstream(Path("m.json")) << R"([{"role": "user", "content": [{"type": "image", "image": ")"
                                << kPng << R"("}, {"type": "text", "text": "What is this?"}]}])";
  CliResult a =
      RunCli("run" + Model() + " --messages " + Path("m.json") + " --max-tokens 6 --json");
  CliResult b = RunCli("run" + Model() + " --prompt 'What is this?' --image " + kPng +
                       " --max-tokens 6 --json");
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_EQ(nlohmann::json::parse(a.out)["token_ids"], nlohmann::json::parse(b.out)["token_ids"]);
  CliResult e = RunCli("eval" + Model() + " --messages " + Path("m.json") + " --logits-out " +
                       Path("logits.f32"));
  ASSERT_EQ(e.exit_code, 0) << e.out;
  EXPECT_TRUE(std::filesystem::exists(Path("logits.f32")));
}

TEST_F(ImageCliTest, BadImagesAreNamedBeforeTheModelLoads) {
  std::ofstream(Path("garbage.png")) << "not an image at all";
  std::ofstream(Path("empty.png"));
  for (const char* name : {"missing.png", "garbage.png", "empty.png"}) {
    CliResult r =
        RunCli("run --model " + Path("no-such-model") + " --prompt hi --image " + Path(name));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("no-such-model"), std::string::npos) << r.out;
  }
}

// A 1×1 image is scaled up to min_pixels as transformers' smart_resize does (64×64 → 4 tokens);
// a PNG cut short is an error naming it.
TEST_F(ImageCliTest, OnePixelImagesAndTruncatedFiles) {
  const std::string dot = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/dot.png";
  const std::string ask = "run" + Model() + " --prompt 'What is this?' --max-tokens 2 --json";
  CliResult text = RunCli(ask);
  CliResult one = RunCli(ask + " --image " + dot);
  ASSERT_EQ(text.exit_code, 0) << text.out;
  ASSERT_EQ(one.exit_code, 0) << one.out;
  EXPECT_EQ(nlohmann::json::parse(one.out)["prompt_tokens"].get<int>(),
            nlohmann::json::parse(text.out)["prompt_tokens"].get<int>() + 6);
  std::ifstream in(kPng, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(Path("cut.png"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CliResult cut = RunCli(ask + " --image " + Path("cut.png"));
  EXPECT_NE(cut.exit_code, 0);
  EXPECT_NE(cut.out.find("cut.png"), std::string::npos) << cut.out;
}

// An animated PNG is read as its default image (PIL's first frame) and a 16-bit PNG by the high
// byte of each sample (tests/golden/vision/edge, checked pixel for pixel in image_file_test.cc):
// both answer, with the tokens of their size (40×30 and 37×23 → 64×96 → 6 tokens).
TEST_F(ImageCliTest, AnimatedAndSixteenBitPngsAnswer) {
  const std::string edge = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/edge/";
  const std::string ask = "run" + Model() + " --prompt 'What is this?' --max-tokens 2 --json";
  CliResult text = RunCli(ask);
  ASSERT_EQ(text.exit_code, 0) << text.out;
  for (const char* name : {"animated.png", "deep16.png"}) {
    CliResult r = RunCli(ask + " --image " + edge + name);
    ASSERT_EQ(r.exit_code, 0) << name << r.out;
    EXPECT_EQ(nlohmann::json::parse(r.out)["prompt_tokens"].get<int>(),
              nlohmann::json::parse(text.out)["prompt_tokens"].get<int>() + 8)
        << name;
  }
}

// A 20000×20000 PNG is above PIL's decompression-bomb limit (2 × 89,478,485 pixels): refused from
// its header alone, naming the file, before the model loads and before any pixel memory (the file
// here is only the header: nothing past it is read).
TEST_F(ImageCliTest, A20000By20000PngIsRefusedFromItsHeader) {
  auto crc32 = [](const std::string& bytes) {
    uint32_t c = 0xffffffffu;
    for (unsigned char b : bytes) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
  };
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const std::string ihdr = "IHDR" + be32(20000) + be32(20000) + std::string("\x08\x02\0\0\0", 5);
  std::ofstream(Path("huge.png"), std::ios::binary) << "\x89PNG\r\n\x1a\n"
                                                    << be32(13) << ihdr << be32(crc32(ihdr));
  CliResult r =
      RunCli("run --model " + Path("no-such-model") + " --prompt hi --image " + Path("huge.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find(Path("huge.png") + ": image of 20000x20000 = 400000000 pixels is larger"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("no-such-model"), std::string::npos) << r.out;
}

TEST_F(ImageCliTest, AModelWithoutAVisionTowerIsAnError) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  CliResult r = RunCli("run --model " + Path("moe") + " --prompt hi --image " + kPng);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("has no vision encoder"), std::string::npos) << r.out;
}

TEST_F(ImageCliTest, ChatTakesImagesBetweenTurns) {
  std::ofstream(Path("turns.txt"))
      << "/image " << kPng << "\nWhat is it?\n/image " << Path("missing.png") << "\nAnd now?\n";
  CliResult r = RunCli("chat" + Model() + " --max-tokens 4 < " + Path("turns.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("exact.png: 96×64, goes with your next message"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("missing.png"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vision encoder:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

// The CLI against damaged, half-written or mismatched files: a corrupt expert store, an
// incomplete one, concurrent writers, trust files and traces that do not fit the model, a
// tokenizer without its chat markers, failed commands that must leave no temporary files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class IntegrityCliTest : public CliTestDir {
 protected:
  IntegrityCliTest() : CliTestDir("omnisage_integrity_cli_") {}

  // A tiny checkpoint and its expert store.
  void SynthAndExtract() {
    ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
    CliResult e = RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json");
    ASSERT_EQ(e.exit_code, 0) << e.out;
  }

  static void FlipByte(const std::string& path, uint64_t from_end) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto pos = static_cast<std::streamoff>(fs::file_size(path) - from_end);
    f.seekg(pos);
    const char c = static_cast<char>(f.get());
    f.seekp(pos);
    f.put(static_cast<char>(c ^ 0x01));
  }

  // Paths of files under dir_ whose name ends with ".tmp".
  std::vector<std::string> TempFiles() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.path().filename().string().ends_with(".tmp")) out.push_back(e.path().string());
    }
    return out;
  }
};

TEST_F(IntegrityCliTest, FlippedByteInAnExpertStopsTheRunUnlessTheCheckIsOff) {
  SynthAndExtract();
  for (int e = 0; e < 8; ++e) {
    char name[64];
    std::snprintf(name, sizeof(name), "store/experts/thinker/layer_01/expert_%03d.safetensors", e);
    FlipByte(Path(name), 3);
  }
  const std::string run = "run --model " + Path("store") + " --prompt 'Hello there' --max-tokens 4";
  for (const std::string budget : {"", " --budget 50%"}) {
    CliResult r = RunCli(run + budget);
    EXPECT_EQ(r.exit_code, 1) << budget << "\n" << r.out;
    EXPECT_NE(r.out.find("layer 1 expert "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("experts/thinker/layer_01/expert_"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
    CliResult unchecked = RunCli(run + budget + " --no-verify-checksums");
    EXPECT_EQ(unchecked.exit_code, 0) << budget << "\n" << unchecked.out;
  }
}

TEST_F(IntegrityCliTest, ConfigEditedInTheStoreIsRefused) {
  SynthAndExtract();
  std::ifstream in(Path("store/config.json"));
  auto config = nlohmann::json::parse(in);
  config["thinker_config"]["text_config"]["num_experts_per_tok"] = 3;
  std::ofstream(Path("store/config.json")) << config.dump(2);
  CliResult r = RunCli("run --model " + Path("store") + " --prompt hi --max-tokens 2");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(Path("store/config.json")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(Path("store/manifest.json")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("thinker_config.text_config.num_experts_per_tok: 3 vs 2"), std::string::npos)
      << r.out;
}

TEST_F(IntegrityCliTest, CorruptTrustFileSaysHowToRecover) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string trust = Path("tiny/omnisage-trust.json");
  std::ofstream(trust) << "{\"format\": \"omnisage-trust\", \"version\": 1, \"experts\": [";
  const std::string run =
      "run --model " + Path("tiny") + " --prompt hi --max-tokens 2 --mode sage --budget 50%";
  CliResult r = RunCli(run);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(trust + ": invalid JSON"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("delete it"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("omnisage dream"), std::string::npos) << r.out;
  // The remedy works.
  fs::remove(trust);
  CliResult again = RunCli(run);
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_TRUE(fs::exists(trust));
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(IntegrityCliTest, DreamNeedsTheModelAndATraceOfIt) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  const std::string trace = Path("moe.jsonl");
  CliResult run = RunCli("run --model " + Path("moe") +
                         " --prompt 'Hello there' --max-tokens 4 --budget 50% --trace " + trace);
  ASSERT_EQ(run.exit_code, 0) << run.out;

  // A model that does not exist: an error, and no trust file written anywhere.
  const std::string missing = Path("nonexistent");
  CliResult none = RunCli("dream --model " + missing + " --trace " + trace + " --budget 50%");
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_NE(none.out.find(missing), std::string::npos) << none.out;
  EXPECT_FALSE(fs::exists(missing + ".omnisage-trust.json"));
  EXPECT_FALSE(fs::exists(missing));

  // A trace of another model: refused before the trust file is touched.
  CliResult other = RunCli("dream --model " + Path("tiny") + " --trace " + trace + " --budget 50%");
  EXPECT_EQ(other.exit_code, 1) << other.out;
  EXPECT_NE(other.out.find(trace + " was recorded on another model than " + Path("tiny")),
            std::string::npos)
      << other.out;
  EXPECT_NE(other.out.find("qwen3_moe"), std::string::npos) << other.out;
  EXPECT_FALSE(fs::exists(Path("tiny/omnisage-trust.json")));

  // Its own trace is accepted; its trust file used with the other model is reported.
  CliResult own = RunCli("dream --model " + Path("moe") + " --trace " + trace + " --budget 50%");
  ASSERT_EQ(own.exit_code, 0) << own.out;
  CliResult foreign = RunCli("run --model " + Path("tiny") +
                                 " --prompt hi --max-tokens 2 --json --mode sage --budget 50% "
                                 "--trust-file " +
                                 Path("moe/omnisage-trust.json"),
                             /*with_stderr=*/false);
  ASSERT_EQ(foreign.exit_code, 0) << foreign.out;
  const auto warnings = nlohmann::json::parse(foreign.out)["warnings"];
  bool named = false;
  for (const auto& w : warnings) {
    const std::string text = w.get<std::string>();
    named |= text.find("name experts this model does not have") != std::string::npos &&
             text.find("text layer ") != std::string::npos;
  }
  EXPECT_TRUE(named) << warnings.dump();
}

// Each command fails at its last step (a file it renames into place is a directory) and must
// leave no temporary file behind.
TEST_F(IntegrityCliTest, FailedCommandsLeaveNoTemporaryFiles) {
  SynthAndExtract();
  fs::create_directories(Path("logits.f32"));
  CliResult eval = RunCli("eval --model " + Path("tiny") + " --token-ids 1,2,3 --logits-out " +
                          Path("logits.f32"));
  EXPECT_NE(eval.exit_code, 0) << eval.out;
  EXPECT_NE(eval.out.find(Path("logits.f32")), std::string::npos) << eval.out;

  fs::create_directories(Path("synth/model-00002-of-00002.safetensors"));
  CliResult synth = RunCli("synth --preset tiny --out " + Path("synth"));
  EXPECT_NE(synth.exit_code, 0) << synth.out;

  fs::create_directories(Path("repacked/model-00001-of-00002.safetensors"));
  CliResult repack = RunCli("repack " + Path("store") + " --out " + Path("repacked"));
  EXPECT_NE(repack.exit_code, 0) << repack.out;

  fs::create_directories(Path("profile/memory.svg"));
  CliResult profile = RunCli("profile --out " + Path("profile") + " -- run --model " +
                             Path("tiny") + " --prompt hi --max-tokens 2");
  EXPECT_NE(profile.exit_code, 0) << profile.out;
  EXPECT_NE(profile.out.find("memory.svg"), std::string::npos) << profile.out;

  const std::vector<std::string> left = TempFiles();
  EXPECT_TRUE(left.empty()) << left.size() << " left, e.g. " << (left.empty() ? "" : left[0]);
}

TEST_F(IntegrityCliTest, TokenizerWithoutChatMarkersIsRefused) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string path = Path("tiny/tokenizer.json");
  nlohmann::json tok;
  {
    std::ifstream in(path);
    tok = nlohmann::json::parse(in);
  }
  tok["added_tokens"] = nlohmann::json::array();
  std::ofstream(path) << tok.dump();
  CliResult r = RunCli("run --model " + Path("tiny") + " --prompt hi --max-tokens 4");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(path + ": added_tokens: the chat marker <|im_start|> is missing"),
            std::string::npos)
      << r.out;
}

TEST_F(IntegrityCliTest, StoreWithoutManifestSaysToResumeExtract) {
  SynthAndExtract();
  fs::remove(Path("store/manifest.json"));  // as a killed extraction leaves it
  for (const std::string cmd : {"run --model " + Path("store") + " --prompt hi --max-tokens 2",
                                "inspect " + Path("store"), "verify " + Path("store")}) {
    CliResult r = RunCli(cmd);
    EXPECT_NE(r.exit_code, 0) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("did not finish"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("extract"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("neither"), std::string::npos) << cmd << "\n" << r.out;
  }
  // Resuming finishes it.
  CliResult e = RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.out;
  EXPECT_EQ(RunCli("verify " + Path("store")).exit_code, 0);
}

}  // namespace
}  // namespace omnisage

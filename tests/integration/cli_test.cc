// End-to-end tests of the `omnisage` binary: synth, then inspect, through the command line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "source_paths.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class CliTest : public CliTestDir {
 protected:
  CliTest() : CliTestDir("omnisage_cli_") {}
};

TEST_F(CliTest, SynthTinyThenInspectJson) {
  CliResult s = RunCli("synth --preset tiny --out " + Path("tiny"));
  ASSERT_EQ(s.exit_code, 0) << s.out;
  CliResult r = RunCli("inspect --json " + Path("tiny"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], "qwen3_omni_moe");
  EXPECT_EQ(j["shards"], 2);
  EXPECT_EQ(j["tensors"], 359);
  ASSERT_EQ(j["moe_stacks"].size(), 2u);
  EXPECT_EQ(j["moe_stacks"][0]["component"], "thinker");
  EXPECT_EQ(j["moe_stacks"][0]["experts_per_layer"], 8);
  EXPECT_EQ(j["moe_stacks"][0]["active_per_token"], 2);
  EXPECT_EQ(j["moe_stacks"][1]["component"], "talker");
}

TEST_F(CliTest, FullSparseReportsTheRealModel) {
  CliResult s = RunCli("synth --preset full --sparse --out " + Path("full"));
  ASSERT_EQ(s.exit_code, 0) << s.out;
  CliResult r = RunCli("inspect --json --budget 25% " + Path("full"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"], 28010);
  EXPECT_EQ(j["parameters"], 35259818545ull);
  EXPECT_EQ(j["shards"], 15);
  const auto& thinker = j["moe_stacks"][0];
  EXPECT_EQ(thinker["component"], "thinker");
  EXPECT_EQ(thinker["moe_layers"], 48);
  EXPECT_EQ(thinker["experts_per_layer"], 128);
  EXPECT_EQ(thinker["active_per_token"], 8);
  EXPECT_EQ(thinker["params_per_expert"], 4718592);
  EXPECT_EQ(thinker["bytes_per_expert"], 9u * 1024 * 1024);
  const auto& talker = j["moe_stacks"][1];
  EXPECT_EQ(talker["active_per_token"], 6);
  EXPECT_EQ(talker["bytes_per_expert"], 2304u * 1024);  // 2.25 MiB
  // Plans: all, WAKE, FOCUS, CRISIS, budget; FOCUS keeps 8 of 128 experts per layer.
  ASSERT_EQ(j["plans"].size(), 5u);
  EXPECT_EQ(j["plans"][2]["name"], "FOCUS");
  const uint64_t focus_experts = 48ull * 8 * 9 * 1024 * 1024 + 20ull * 8 * 2304 * 1024;
  EXPECT_EQ(j["plans"][2]["expert_bytes"], focus_experts);
  EXPECT_EQ(j["plans"][4]["name"], "budget");
  EXPECT_EQ(j["plans"][4]["expert_bytes"], j["expert_bytes"].get<uint64_t>() / 4);
  // Sparse files take almost no disk.
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(Path("full"))) {
    struct stat st;
    ASSERT_EQ(stat(e.path().c_str(), &st), 0);
    on_disk += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  EXPECT_LT(on_disk, 256ull << 20);
}

TEST_F(CliTest, InspectTextTable) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  CliResult r = RunCli("inspect --budget 50% " + Path("moe"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("qwen3_moe"), std::string::npos);
  EXPECT_NE(r.out.find("FOCUS"), std::string::npos);
  EXPECT_NE(r.out.find("budget"), std::string::npos);
  EXPECT_NE(r.out.find("Smallest workable expert budget"), std::string::npos);
}

TEST_F(CliTest, InspectSingleSafetensorsFile) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("inspect --json " + Path("tiny/model-00002-of-00002.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["shards"], 1);
  EXPECT_GT(j["tensors"].get<int>(), 0);
}

TEST_F(CliTest, MissingPathIsAClearError) {
  CliResult r = RunCli("inspect " + Path("nope"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("omnisage: error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(Path("nope")), std::string::npos) << r.out;
}

TEST_F(CliTest, TruncatedShardIsAClearError) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string shard = Path("tiny/model-00001-of-00002.safetensors");
  fs::resize_file(shard, fs::file_size(shard) - 100);
  CliResult r = RunCli("inspect " + Path("tiny"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("model-00001-of-00002.safetensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data_offsets"), std::string::npos) << r.out;
}

TEST_F(CliTest, BadConfigNamesTheField) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  std::ifstream in(Path("tiny/config.json"));
  auto config = nlohmann::json::parse(in);
  config["thinker_config"]["text_config"].erase("num_experts");
  std::ofstream(Path("tiny/config.json")) << config.dump();
  CliResult r = RunCli("inspect " + Path("tiny"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("thinker_config.text_config.num_experts"), std::string::npos) << r.out;
}

// A published compressed-tensors checkpoint (tests/golden/quant/compressed_tensors, the tensors
// of one qwen3_moe layer) under a qwen3_moe config: inspect names the quantization and counts
// each component's packed modules by scheme; an unknown quantization_config is an error naming
// the field.
TEST_F(CliTest, InspectReportsPublishedQuantization) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  const std::string golden =
      ::omnisage::test_paths::SourceDir() + "/tests/golden/quant/compressed_tensors/";
  fs::create_directories(Path("ct"));
  fs::copy_file(golden + "model.safetensors", Path("ct/model.safetensors"));
  std::ifstream config_in(Path("moe/config.json")), quant_in(golden + "config.json");
  auto config = nlohmann::json::parse(config_in);
  config["quantization_config"] = nlohmann::json::parse(quant_in)["quantization_config"];
  std::ofstream(Path("ct/config.json")) << config.dump();
  CliResult r = RunCli("inspect --json " + Path("ct"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto q = nlohmann::json::parse(r.out)["quantization"];
  EXPECT_EQ(q["method"], "compressed-tensors");
  EXPECT_EQ(q["format"], "pack-quantized");
  const auto& text = q["components"]["text"];
  EXPECT_EQ(text["quantized_modules"], 4) << q.dump();
  EXPECT_EQ(text["int4_exact_modules"], 1) << q.dump();      // the g32 gate_proj
  EXPECT_EQ(text["unquantized_2d_weights"], 2) << q.dump();  // the router and lm_head
  EXPECT_EQ(text["schemes"]["int4 g32 sym"], 1) << q.dump();
  EXPECT_EQ(text["schemes"]["int8 per-channel asym"], 1) << q.dump();
  CliResult table = RunCli("inspect " + Path("ct"));
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("Quantization: compressed-tensors pack-quantized"), std::string::npos)
      << table.out;
  config["quantization_config"] = {{"quant_method", "bitsandbytes"}};
  std::ofstream(Path("ct/config.json")) << config.dump();
  CliResult bad = RunCli("inspect " + Path("ct"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("quantization_config.quant_method: 'bitsandbytes'"), std::string::npos)
      << bad.out;
}

TEST_F(CliTest, BadBudgetIsRefused) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("inspect --budget 12XB " + Path("tiny"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--budget"), std::string::npos) << r.out;
}

TEST_F(CliTest, ExtractVerifyRepackThroughTheCli) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult e = RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.out;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["expert_files"], 32);
  EXPECT_EQ(j["files_skipped"], 0);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);

  // Running it again skips every data file.
  CliResult again = RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json");
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(nlohmann::json::parse(again.out)["files_written"], 0);

  CliResult v = RunCli("verify " + Path("store"));
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_NE(v.out.find(": OK"), std::string::npos) << v.out;

  // inspect reads the store like the checkpoint.
  CliResult a = RunCli("inspect --json " + Path("tiny"));
  CliResult b = RunCli("inspect --json " + Path("store"));
  ASSERT_EQ(b.exit_code, 0) << b.out;
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(jb["kind"], "expert store");
  EXPECT_EQ(ja["parameters"], jb["parameters"]);
  EXPECT_EQ(ja["moe_stacks"], jb["moe_stacks"]);
  EXPECT_EQ(ja["plans"], jb["plans"]);

  CliResult r = RunCli("repack " + Path("store") + " --out " + Path("repacked"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const auto& entry : fs::directory_iterator(Path("tiny"))) {
    const std::string name = entry.path().filename().string();
    std::ifstream x(entry.path(), std::ios::binary), y(Path("repacked/" + name), std::ios::binary);
    std::string bx(std::istreambuf_iterator<char>(x), {}),
        by(std::istreambuf_iterator<char>(y), {});
    EXPECT_TRUE(bx == by) << name << " differs after extract + repack";
  }
}

// extract --quant-dense: inspect names each stack's int8 projections, verify passes, and the
// store runs (the talker's and code predictor's layers are int8 too).
TEST_F(CliTest, QuantDenseStoreThroughTheCli) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult e = RunCli("extract " + Path("tiny") + " --out " + Path("store") +
                       " --quant int8 --quant-dense --json");
  ASSERT_EQ(e.exit_code, 0) << e.out;
  EXPECT_EQ(RunCli("verify " + Path("store")).exit_code, 0);
  CliResult i = RunCli("inspect --json " + Path("store"));
  ASSERT_EQ(i.exit_code, 0) << i.out;
  const auto q = nlohmann::json::parse(i.out)["quantization"];
  EXPECT_EQ(q["dense"]["thinker"], "int8") << q.dump();
  EXPECT_EQ(q["dense"]["talker"], "int8") << q.dump();
  EXPECT_EQ(q["dense"]["code_predictor"], "int8") << q.dump();
  EXPECT_EQ(q["expert_store"]["thinker"], "int8") << q.dump();
  CliResult t = RunCli("inspect " + Path("store"));
  EXPECT_NE(t.out.find("Layer projections and lm_head of the thinker: int8"), std::string::npos)
      << t.out;
  CliResult r = RunCli("run --model " + Path("store") + " --prompt hello --max-tokens 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
}

// An int4 store names its rounding in verify's and inspect's report; a rounding that does not
// exist is refused before anything is written.
TEST_F(CliTest, Int4RoundingIsReported) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  for (const std::string rounding : {"minmax", "search"}) {
    const std::string store = Path("store-" + rounding);
    CliResult e = RunCli("extract " + Path("moe") + " --out " + store +
                         " --quant int4 --group 32 --json --int4-rounding " + rounding);
    ASSERT_EQ(e.exit_code, 0) << e.out;
    const std::string expected = "int4 g32, " + rounding + " rounding";
    CliResult v = RunCli("verify " + store);
    EXPECT_EQ(v.exit_code, 0) << v.out;
    EXPECT_NE(v.out.find("(experts " + expected + ")"), std::string::npos) << v.out;
    CliResult i = RunCli("inspect " + store);
    ASSERT_EQ(i.exit_code, 0) << i.out;
    EXPECT_NE(i.out.find(expected + " (expert store)"), std::string::npos) << i.out;
  }
  CliResult bad = RunCli("extract " + Path("moe") + " --out " + Path("bad") +
                         " --quant int4 --group 32 --int4-rounding awq");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("--int4-rounding"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(Path("bad")));
}

TEST_F(CliTest, VerifyReportsBadFilesAndFails) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  ASSERT_EQ(RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json").exit_code, 0);
  const std::string victim = Path("store/experts/talker/layer_00/expert_006.safetensors");
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x42');
  }
  CliResult v = RunCli("verify " + Path("store"));
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.out.find("BAD " + victim), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("1 bad file"), std::string::npos) << v.out;
}

TEST_F(CliTest, RunJsonIsGreedyAndReproducible) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string cmd =
      "run --model " + Path("tiny") + " --prompt 'Hello there' --max-tokens 12 --json";
  CliResult a = RunCli(cmd), b = RunCli(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.out;
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["token_ids"].size(), 12u);
  EXPECT_EQ(ja["token_ids"], jb["token_ids"]);
  EXPECT_EQ(ja["stop_reason"], "max_tokens");
  EXPECT_GT(ja["prompt_tokens"].get<int>(), 5);
  EXPECT_GT(ja["decode_tok_s"].get<double>(), 0.0);
  EXPECT_GT(ja["peak_rss_bytes"].get<uint64_t>(), 0u);
  // The same model through an expert store answers identically.
  ASSERT_EQ(RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --json").exit_code, 0);
  CliResult c =
      RunCli("run --model " + Path("store") + " --prompt 'Hello there' --max-tokens 12 --json");
  ASSERT_EQ(c.exit_code, 0) << c.out;
  EXPECT_EQ(nlohmann::json::parse(c.out)["token_ids"], ja["token_ids"]);
}

// The error rule: a trace that cannot be written does not change the answer, so the run finishes
// with the same tokens and lists the failure among its warnings (in --json too).
TEST_F(CliTest, TraceWriteFailureIsAWarningNotAFailedRun) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string cmd =
      "run --model " + Path("tiny") + " --prompt 'Hello there' --max-tokens 8 --json";
  CliResult plain = RunCli(cmd);
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  auto jp = nlohmann::json::parse(plain.out);
  EXPECT_TRUE(jp["warnings"].empty()) << plain.out;
  CliResult traced = RunCli(cmd + " --trace /dev/full", /*with_stderr=*/false);
  ASSERT_EQ(traced.exit_code, 0) << traced.out;
  auto jt = nlohmann::json::parse(traced.out);
  EXPECT_EQ(jt["token_ids"], jp["token_ids"]);
  ASSERT_EQ(jt["warnings"].size(), 1u) << traced.out;
  EXPECT_NE(jt["warnings"][0].get<std::string>().find("trace"), std::string::npos);
  // Without --json the warning follows the summary line.
  CliResult text = RunCli("run --model " + Path("tiny") +
                          " --prompt 'Hello there' --max-tokens 8 --trace /dev/full");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("warning: trace not complete"), std::string::npos) << text.out;
}

TEST_F(CliTest, RunStreamsTextAndSummary) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  CliResult r = RunCli("run --model " + Path("moe") +
                       " --prompt hi --max-tokens 5 --temperature 0.7 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("decode 5 tok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS"), std::string::npos) << r.out;
}

TEST_F(CliTest, ChatTakesSeveralTurns) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("chat --model " + Path("tiny") + " --max-tokens 4 < /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::ofstream(Path("turns.txt")) << "first\nsecond\n/reset\nthird\n";
  CliResult t = RunCli("chat --model " + Path("tiny") + " --max-tokens 4 < " + Path("turns.txt"));
  ASSERT_EQ(t.exit_code, 0) << t.out;
  const size_t turns = CountOf(t.out, "decode 4 tok");
  EXPECT_EQ(turns, 3u) << t.out;
}

TEST_F(CliTest, EvalWritesLogits) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r =
      RunCli("eval --model " + Path("tiny") + " --token-ids 1,2,3 --logits-out " + Path("l.f32"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(fs::file_size(Path("l.f32")), 3u * 4096 * sizeof(float));
  CliResult bad =
      RunCli("eval --model " + Path("tiny") + " --token-ids 1,x --logits-out " + Path("l2.f32"));
  EXPECT_NE(bad.exit_code, 0);
  CliResult oob =
      RunCli("eval --model " + Path("tiny") + " --token-ids 99999 --logits-out " + Path("l3.f32"));
  EXPECT_NE(oob.exit_code, 0);
  EXPECT_NE(oob.out.find("vocabulary"), std::string::npos) << oob.out;
}

TEST_F(CliTest, RunUnderABudgetIsExactAndReportsTheCache) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string base =
      "run --model " + Path("tiny") + " --prompt 'Hello there' --max-tokens 16 --json";
  CliResult free = RunCli(base);
  ASSERT_EQ(free.exit_code, 0) << free.out;
  auto jf = nlohmann::json::parse(free.out);
  EXPECT_TRUE(jf["expert_cache"].is_null());
  const uint64_t total = jf["memory"]["total_expert_bytes"];
  EXPECT_EQ(jf["memory"]["expert_budget_bytes"], total);
  // The minimum (two 12 KiB experts), 25% and 100%, with each policy: the same tokens.
  for (const std::string flags : {"--budget 24KiB --policy trust", "--budget 25% --policy lfu",
                                  "--budget 25% --no-prefetch", "--budget 100%"}) {
    CliResult r = RunCli(base + " " + flags);
    ASSERT_EQ(r.exit_code, 0) << flags << "\n" << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["token_ids"], jf["token_ids"]) << flags;
    const auto& t = j["expert_cache"]["total"];
    EXPECT_EQ(t["accesses"].get<uint64_t>(),
              t["hits"].get<uint64_t>() + t["misses"].get<uint64_t>());
    EXPECT_GT(t["bytes_read"].get<uint64_t>(), 0u);
    EXPECT_EQ(j["expert_cache"]["layers"].size(), 2u);
    EXPECT_LE(j["memory"]["expert_peak_bytes"].get<uint64_t>(),
              j["memory"]["expert_budget_bytes"].get<uint64_t>());
  }
  auto quarter = nlohmann::json::parse(RunCli(base + " --budget 25%").out);
  EXPECT_EQ(quarter["memory"]["expert_budget_bytes"], total / 4);
  EXPECT_GT(quarter["memory"]["saved_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(quarter["expert_cache"]["total"]["evictions"].get<uint64_t>(), 0u);
  // The text summary names the policy and counts.
  CliResult text =
      RunCli("run --model " + Path("tiny") + " --prompt hi --max-tokens 4 --budget 50%");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("expert cache (cycle):"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("saved"), std::string::npos) << text.out;
}

TEST_F(CliTest, EvalLogitsAreIdenticalUnderABudget) {
  ASSERT_EQ(RunCli("synth --preset tiny --arch qwen3_moe --out " + Path("moe")).exit_code, 0);
  const std::string ids = "3,14,15,92,65,35,89,79,32,38,46,26,43,38,32,79";
  auto eval = [&](const std::string& out, const std::string& flags) {
    CliResult r = RunCli("eval --model " + Path("moe") + " --token-ids " + ids + " --logits-out " +
                         Path(out) + " " + flags);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    std::ifstream in(Path(out), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string reference = eval("free.f32", "");
  ASSERT_FALSE(reference.empty());
  EXPECT_EQ(eval("min.f32", "--budget 24KiB"), reference);
  EXPECT_EQ(eval("lfu.f32", "--budget 30% --policy lfu"), reference);
}

TEST_F(CliTest, BudgetBelowTheMinimumAndUnknownPolicyAreRefused) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult small = RunCli("run --model " + Path("tiny") + " --prompt hi --budget 1KiB");
  EXPECT_NE(small.exit_code, 0);
  EXPECT_NE(small.out.find("minimum of 24.00 KiB"), std::string::npos) << small.out;
  CliResult policy = RunCli("run --model " + Path("tiny") + " --prompt hi --budget 50% --policy x");
  EXPECT_NE(policy.exit_code, 0);
  EXPECT_NE(policy.out.find("lru, lfu, cycle, trust"), std::string::npos) << policy.out;
  CliResult bad = RunCli("run --model " + Path("tiny") + " --prompt hi --budget lots");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("--budget"), std::string::npos) << bad.out;
}

TEST_F(CliTest, SageModePinsStatesAndKeepsTrustRecords) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  const std::string base = "run --model " + Path("tiny") +
                           " --prompt 'Hello there' --max-tokens 8 --json --mode sage --budget 50%";
  // tiny: k = 2 of 8 experts, so WAKE runs 1 per layer and CRISIS 4.
  for (const auto& [state, per_layer] : {std::pair{"wake", 1.0}, {"focus", 2.0}, {"crisis", 4.0}}) {
    CliResult r = RunCli(base + " --state " + state);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto sage = nlohmann::json::parse(r.out)["sage"];
    EXPECT_EQ(sage["mode"], "sage");
    EXPECT_EQ(sage["state"], state);
    EXPECT_TRUE(sage["state_pinned"].get<bool>());
    ASSERT_GT(sage["decisions"].get<double>(), 0);
    EXPECT_EQ(sage["experts_chosen"].get<double>() / sage["decisions"].get<double>(), per_layer);
  }
  // Trust records persist beside the model and are read back by the next run.
  ASSERT_TRUE(fs::exists(Path("tiny/omnisage-trust.json")));
  auto unpinned = nlohmann::json::parse(RunCli(base + " --reward 0.5").out)["sage"];
  EXPECT_FALSE(unpinned["state_pinned"].get<bool>());
  EXPECT_GT(unpinned["trust_records"].get<int>(), 0);
  CliResult custom = RunCli(base + " --trust-file " + Path("t.json"));
  ASSERT_EQ(custom.exit_code, 0) << custom.out;
  EXPECT_TRUE(fs::exists(Path("t.json")));
  // Exact mode has no SAGE object; --state alone is refused.
  CliResult exact = RunCli("run --model " + Path("tiny") + " --prompt hi --max-tokens 2 --json");
  EXPECT_TRUE(nlohmann::json::parse(exact.out)["sage"].is_null());
  CliResult bad = RunCli("run --model " + Path("tiny") + " --prompt hi --state wake");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("--mode sage"), std::string::npos) << bad.out;
  CliResult bad_state = RunCli(base + " --state sleepy");
  EXPECT_NE(bad_state.exit_code, 0);
  EXPECT_NE(bad_state.out.find("sleepy"), std::string::npos) << bad_state.out;
}

TEST_F(CliTest, TraceThenSimulateThenDream) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("run --model " + Path("tiny") +
                       " --prompt 'Hello there' --max-tokens 16 --json --budget 25% --trace " +
                       Path("t.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto run = nlohmann::json::parse(r.out);
  // One record per token per MoE layer: the prompt's tokens and 15 fed-back tokens, 2 layers.
  std::ifstream in(Path("t.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 1 + 2 * (run["prompt_tokens"].get<int>() + 15));
  CliResult sim = RunCli("simulate --trace " + Path("t.jsonl") + " --budget 25% --json");
  ASSERT_EQ(sim.exit_code, 0) << sim.out;
  const auto j = nlohmann::json::parse(sim.out);
  uint64_t belady = 0, lru = 0;
  for (const auto& p : j["results"]) {
    if (p["policy"] == "belady") belady = p["hits"];
    if (p["policy"] == "lru") lru = p["hits"];
  }
  EXPECT_GE(belady, lru);
  // The simulator's LRU sees the accesses the engine made.
  EXPECT_EQ(j["results"][0]["accesses"], run["expert_cache"]["total"]["accesses"]);
  CliResult dream =
      RunCli("dream --model " + Path("tiny") + " --trace " + Path("t.jsonl") + " --budget 50%");
  ASSERT_EQ(dream.exit_code, 0) << dream.out;
  EXPECT_NE(dream.out.find("hot set: 4 experts"), std::string::npos) << dream.out;
  CliResult pinned = RunCli("run --model " + Path("tiny") +
                            " --prompt hi --max-tokens 4 --json --mode sage --budget 50%");
  ASSERT_EQ(pinned.exit_code, 0) << pinned.out;
  EXPECT_EQ(nlohmann::json::parse(pinned.out)["sage"]["hot_set_bytes"], 4 * 12288);
}

TEST_F(CliTest, ExtractBadSelectionIsRefused) {
  ASSERT_EQ(RunCli("synth --preset tiny --out " + Path("tiny")).exit_code, 0);
  CliResult r = RunCli("extract " + Path("tiny") + " --out " + Path("store") + " --experts 3-1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--experts"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace omnisage

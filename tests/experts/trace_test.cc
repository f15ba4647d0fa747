// Routing traces: writer/reader round trip, and an error that names the line and the field for
// each kind of malformed input.
#include "experts/trace.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("omnisage_trace_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
    return Path(name);
  }

  fs::path dir_;
};

TraceHeader TwoComponents() {
  TraceHeader h;
  h.model = "tiny";
  h.total_expert_bytes = 4 * 8 * 100 + 2 * 4 * 25;
  h.components.push_back({Component::kThinker, 4, 8, 2, 100, {0, 1, 2, 3}});
  h.components.push_back({Component::kTalker, 3, 4, 1, 25, {1, 2}});
  return h;
}

const char kHeader[] = R"({"omnisage_trace":1,"model":"m","total_expert_bytes":3200,"components":[)"
                       R"({"component":"thinker","layers":4,"experts":8,"k":2,"expert_bytes":100,)"
                       R"("moe_layers":[0,1,3]}]})"
                       "\n";

TEST(TraceComponentTest, ParseComponentNameInvertsComponentName) {
  for (int i = 0; i < kNumComponents; ++i) {
    const auto c = static_cast<Component>(i);
    EXPECT_EQ(ParseComponentName(ComponentName(c)), c);
  }
  EXPECT_EQ(ParseComponentName("Thinker"), std::nullopt);
  EXPECT_EQ(ParseComponentName(""), std::nullopt);
}

TEST_F(TraceTest, RoundTrip) {
  const TraceHeader h = TwoComponents();
  std::vector<TraceRecord> records = {
      {0, 0, Component::kThinker, 0, {3, 5}, {0.3f, 0.7f}},
      {0, 1, Component::kThinker, 0, {5, 1}, {0.123456789f, 1e-8f}},
      {1, 2, Component::kThinker, 3, {7, 0}, {0.5f, 0.5f}},
      {1, 2, Component::kTalker, 2, {3}, {1.0f}},
      {2, 3, Component::kTalker, 1, {}, {}},
  };
  {
    auto w = TraceWriter::Create(Path("t.jsonl"), h);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ((*w)->path(), Path("t.jsonl"));
    for (const TraceRecord& r : records) ASSERT_TRUE((*w)->Append(r).ok());
    ASSERT_TRUE((*w)->Flush().ok());
    ASSERT_TRUE((*w)->Close().ok());
    EXPECT_TRUE((*w)->Close().ok());  // twice is harmless
  }
  auto t = ReadTrace(Path("t.jsonl"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->header.model, "tiny");
  EXPECT_EQ(t->header.total_expert_bytes, h.total_expert_bytes);
  ASSERT_EQ(t->header.components.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const TraceComponent &a = t->header.components[i], &b = h.components[i];
    EXPECT_EQ(a.component, b.component);
    EXPECT_EQ(a.layers, b.layers);
    EXPECT_EQ(a.experts, b.experts);
    EXPECT_EQ(a.k, b.k);
    EXPECT_EQ(a.expert_bytes, b.expert_bytes);
    EXPECT_EQ(a.moe_layers, b.moe_layers);
  }
  EXPECT_EQ(t->header.Find(Component::kTalker), &t->header.components[1]);
  EXPECT_EQ(t->header.Find(Component::kVision), nullptr);
  ASSERT_EQ(t->records.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const TraceRecord &a = t->records[i], &b = records[i];
    EXPECT_EQ(a.step, b.step);
    EXPECT_EQ(a.pos, b.pos);
    EXPECT_EQ(a.component, b.component);
    EXPECT_EQ(a.layer, b.layer);
    EXPECT_EQ(a.experts, b.experts);
    EXPECT_EQ(a.weights, b.weights);  // bit-exact: floats print in round-trip form
  }
}

TEST_F(TraceTest, LinesAreCompactJson) {
  TraceRecord r{4, 9, Component::kThinker, 1, {2, 6}, {0.25f, 0.75f}};
  EXPECT_EQ(TraceRecordToJsonLine(r),
            R"({"step":4,"pos":9,"component":"thinker","layer":1,"experts":[2,6],)"
            R"("weights":[0.25,0.75]})");
  auto t = ParseTrace(std::string(kHeader) + TraceRecordToJsonLine(r) + "\n", "mem");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->records.at(0).experts, r.experts);
}

TEST_F(TraceTest, WriterDestroyedWithoutCloseLeavesAReadableFile) {
  {
    auto w = TraceWriter::Create(Path("t.jsonl"), TwoComponents());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append({0, 0, Component::kThinker, 2, {1}, {1.0f}}).ok());
  }
  auto t = ReadTrace(Path("t.jsonl"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->records.size(), 1u);
}

TEST_F(TraceTest, WriterRejectsBadRecords) {
  auto w = TraceWriter::Create(Path("t.jsonl"), TwoComponents());
  ASSERT_TRUE(w.ok());
  Status s = (*w)->Append({0, 0, Component::kThinker, 0, {1, 2}, {1.0f}});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2 experts but 1 weights"), std::string::npos) << s.message();
  s = (*w)->Append({0, 0, Component::kThinker, 0, {1}, {std::nanf("")}});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("weights[0]"), std::string::npos) << s.message();
}

TEST_F(TraceTest, WriterNamesAnUnwritablePath) {
  auto w = TraceWriter::Create(Path("no/such/dir/t.jsonl"), TwoComponents());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("no/such/dir/t.jsonl"), std::string::npos);
}

TEST_F(TraceTest, LastLineWithoutNewlineIsFineWhenComplete) {
  const std::string p =
      Write("t.jsonl", std::string(kHeader) +
                           R"({"step":0,"pos":0,"component":"thinker","layer":1,"experts":[1],)"
                           R"("weights":[1]})");
  auto t = ReadTrace(p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->records.size(), 1u);
}

TEST_F(TraceTest, BlankLinesAndUnknownKeysAreSkipped) {
  const std::string p =
      Write("t.jsonl", std::string(kHeader) + "\n   \n" +
                           R"({"step":0,"pos":0,"component":"thinker","layer":1,"experts":[1],)"
                           R"("weights":[1],"note":"x"})"
                           "\n\n");
  auto t = ReadTrace(p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->records.size(), 1u);
}

TEST_F(TraceTest, MissingFileIsNamed) {
  auto t = ReadTrace(Path("absent.jsonl"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("absent.jsonl"), std::string::npos);
}

struct BadTrace {
  const char* name;
  std::string text;
  std::vector<std::string> expect;  // substrings of the message (after "<file>:")
};

// A record line for the kHeader trace, with `fields` spliced in place of the defaults.
std::string Rec(const std::string& step = "0", const std::string& layer = "1",
                const std::string& experts = "[1,2]", const std::string& weights = "[0.5,0.5]",
                const std::string& component = "\"thinker\"") {
  return R"({"step":)" + step + R"(,"pos":0,"component":)" + component + R"(,"layer":)" + layer +
         R"(,"experts":)" + experts + R"(,"weights":)" + weights + "}\n";
}

std::vector<BadTrace> BadTraces() {
  const std::string h = kHeader;
  auto header_with = [](const std::string& comp) {
    return R"({"omnisage_trace":1,"model":"m","total_expert_bytes":1,"components":[)" + comp +
           "]}\n";
  };
  return {
      {"Empty", "", {"empty"}},
      {"RecordFirst", Rec(), {":1: omnisage_trace: missing", "first line"}},
      {"WrongVersion",
       R"({"omnisage_trace":2,"model":"m","total_expert_bytes":1,"components":[]})"
       "\n",
       {":1: omnisage_trace: version 2"}},
      {"HeaderNotObject", "[1,2]\n", {":1:", "header"}},
      {"HeaderNoComponents",
       R"({"omnisage_trace":1,"model":"m","total_expert_bytes":1,"components":[]})"
       "\n",
       {":1: components: empty"}},
      {"HeaderUnknownComponent",
       header_with(
           R"({"component":"brain","layers":1,"experts":2,"k":1,"expert_bytes":1,"moe_layers":[0]})"),
       {":1: components[0].component: unknown component 'brain'"}},
      {"HeaderKAboveExperts",
       header_with(
           R"({"component":"thinker","layers":1,"experts":2,"k":3,"expert_bytes":1,"moe_layers":[0]})"),
       {":1: components[0].k: 3 is not in [1, 2]"}},
      {"HeaderMissingExpertBytes",
       header_with(R"({"component":"thinker","layers":1,"experts":2,"k":1,"moe_layers":[0]})"),
       {":1: components[0].expert_bytes: missing"}},
      {"HeaderMoeLayerOutOfRange",
       header_with(
           R"({"component":"thinker","layers":2,"experts":2,"k":1,"expert_bytes":1,"moe_layers":[0,2]})"),
       {":1: components[0].moe_layers[1]: layer 2 out of range (2 layers)"}},
      {"HeaderComponentTwice",
       header_with(
           R"({"component":"thinker","layers":1,"experts":2,"k":1,"expert_bytes":1,"moe_layers":[0]},)"
           R"({"component":"thinker","layers":1,"experts":2,"k":1,"expert_bytes":1,"moe_layers":[0]})"),
       {":1: components[1].component: 'thinker' described twice"}},
      {"ExpertOutOfRange",
       h + Rec() + Rec("1", "1", "[3,200]"),
       {":3: experts[1]: expert 200 out of range (8 experts)"}},
      {"NegativeExpert", h + Rec("0", "1", "[-1,2]"), {":2: experts[0]: expert -1 out of range"}},
      {"ExpertNotInteger", h + Rec("0", "1", "[1.5,2]"), {":2: experts[0]: expected an integer"}},
      {"ExpertRepeated", h + Rec("0", "1", "[4,4]"), {":2: experts[1]: expert 4 repeated"}},
      {"WeightsLength",
       h + Rec("0", "1", "[1,2]", "[1]"),
       {":2: weights: 1 weights for 2 experts"}},
      {"WeightNotNumber", h + Rec("0", "1", "[1,2]", "[0.5,\"x\"]"), {":2: weights[1]: expected"}},
      {"ExpertsNotArray", h + Rec("0", "1", "7"), {":2: experts: expected an array"}},
      {"LayerOutOfRange", h + Rec("0", "4"), {":2: layer: layer 4 out of range (thinker has 4"}},
      {"LayerNotMoe", h + Rec("0", "2"), {":2: layer: layer 2 is not a MoE layer of thinker"}},
      {"ComponentNotInHeader",
       h + Rec("0", "1", "[1,2]", "[0.5,0.5]", "\"talker\""),
       {":2: component: 'talker' is not in the header"}},
      {"ComponentUnknown",
       h + Rec("0", "1", "[1,2]", "[0.5,0.5]", "\"brain\""),
       {":2: component: unknown component 'brain'"}},
      {"MissingStep",
       h + R"({"pos":0,"component":"thinker","layer":1,"experts":[],"weights":[]})"
           "\n",
       {":2: step: missing"}},
      {"NegativeStep", h + Rec("-1"), {":2: step: -1 is below 0"}},
      {"StepGoesBack", h + Rec("5") + Rec("4"), {":3: step: step 4 after step 5"}},
      {"InvalidJson", h + "{\"step\": 0,,}\n" + Rec(), {":2: invalid JSON"}},
      {"SecondHeader", h + Rec() + h, {":3: a second trace header"}},
      {"RecordNotObject", h + "[]\n", {":2: expected a routing record"}},
      {"TruncatedLastLine",
       h + Rec() + R"({"step":1,"pos":1,"compon)",
       {":3: last line cut short"}},
  };
}

TEST_F(TraceTest, MalformedInputErrorsNameLineAndField) {
  for (const BadTrace& b : BadTraces()) {
    SCOPED_TRACE(b.name);
    const std::string p = Write(std::string(b.name) + ".jsonl", b.text);
    auto t = ReadTrace(p);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = t.status().message();
    EXPECT_EQ(m.rfind(p, 0), 0u) << "does not start with the file name: " << m;
    for (const std::string& want : b.expect) {
      EXPECT_NE(m.find(want), std::string::npos) << "want '" << want << "' in: " << m;
    }
  }
}

TEST(TraceFitsModelTest, ShapeOfAnotherModelIsRefusedNamingBoth) {
  DecoderConfig c;
  c.num_layers = 4;
  c.num_experts = 16;
  c.num_experts_per_tok = 2;
  c.hidden_size = 64;
  c.moe_intermediate_size = 32;
  ModelConfig model;
  model.model_type = "qwen3_moe";
  model.text = c;
  const TraceHeader expected = TraceHeaderOf(model, Component::kText);
  EXPECT_TRUE(CheckTraceFitsModel(expected, expected, "t.jsonl", "m").ok());

  TraceHeader more_experts = expected;
  more_experts.components[0].experts = 32;
  Status s = CheckTraceFitsModel(more_experts, expected, "t.jsonl", "m");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("t.jsonl was recorded on another model than m: text: 4 layers (4 "
                             "with experts) of 32 experts, k 2, 12288 bytes per expert in the "
                             "trace, 4 layers (4 with experts) of 16 experts"),
            std::string::npos)
      << s.message();
  TraceHeader wider = expected;
  wider.components[0].expert_bytes *= 2;
  EXPECT_FALSE(CheckTraceFitsModel(wider, expected, "t.jsonl", "m").ok());
  TraceHeader thinker = expected;
  thinker.components[0].component = Component::kThinker;
  s = CheckTraceFitsModel(thinker, expected, "t.jsonl", "m");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("routes the thinker"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace omnisage

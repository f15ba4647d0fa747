// Published quantized checkpoints, read against what the packers' own Python packages dequantize
// them to (tests/golden/quant/, written by tools/reference/make_quant_fixtures.py), and the
// errors bad packed tensors give.
#include "io/packed_quant.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "model/published_quant.h"
#include "ops/quant.h"
#include "source_paths.h"
#include "tensor/bf16.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

const std::string kGolden = ::omnisage::test_paths::SourceDir() + "/tests/golden/quant/";

QuantConfig ConfigOf(const std::string& dir) {
  std::ifstream f(dir + "/config.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  auto c = ParseQuantConfig(j["quantization_config"], dir + "/config.json: quantization_config");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : QuantConfig{};
}

// Every quantized module of the fixture dequantizes to the package's own weights: exactly, once
// rounded to the reference's bf16 when the reference is bf16 (compressed-tensors multiplies in
// the scales' dtype), else exactly in f32 (or, against auto-gptq's fp16 kernels, once rounded to
// fp16). `scheme_of` gives a module's scheme (default: the
// config's).
void ExpectMatchesReference(
    const std::string& dir, int expected_modules, bool bf16_reference,
    std::function<QuantScheme(const QuantConfig&, const std::string&)> scheme_of = nullptr) {
  auto model = OpenCheckpointSource(dir + "/model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto reference = OpenCheckpointSource(dir + "/reference.safetensors");
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const QuantConfig config = ConfigOf(dir);
  int modules = 0;
  for (const WeightEntry& r : (*reference)->tensors()) {
    const std::string module = r.name.substr(0, r.name.size() - std::strlen(".weight"));
    auto scheme = SchemeFor(config, module);
    ASSERT_TRUE(scheme) << module;
    if (scheme_of) scheme = scheme_of(config, module);
    auto w = UnpackModule(**model, config, module, *scheme);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_EQ((std::vector<int64_t>{w->out, w->in}), r.shape) << module;
    std::vector<float> want(r.numel);
    ASSERT_TRUE((*reference)->Read(r, 0, r.nbytes, want.data()).ok());
    const std::vector<float> got = Dequantize(*w);
    int64_t differ = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      // auto-gptq's kernels compute in fp16: its reference is the exact value rounded once.
      const float half = static_cast<float>(static_cast<_Float16>(got[i]));
      differ += bf16_reference ? Bf16ToFloat(FloatToBf16(got[i])) != want[i]
                               : got[i] != want[i] && half != want[i];
    }
    EXPECT_EQ(differ, 0) << module << ": " << differ << " of " << want.size() << " values differ";
    ++modules;
  }
  EXPECT_EQ(modules, expected_modules);
}

TEST(PackedQuantTest, CompressedTensorsMatchesThePackage) {
  const std::string dir = kGolden + "compressed_tensors";
  ExpectMatchesReference(dir, 4, /*bf16_reference=*/true);
  // The modules the config leaves alone keep their bf16 weights.
  const QuantConfig config = ConfigOf(dir);
  EXPECT_FALSE(SchemeFor(config, "lm_head"));
  EXPECT_FALSE(SchemeFor(config, "model.layers.0.mlp.gate"));
  // A 4-bit group-32 symmetric layer: zero 8, two groups, contiguous.
  auto model = OpenCheckpointSource(dir + "/model.safetensors");
  ASSERT_TRUE(model.ok());
  const std::string gate = "model.layers.0.mlp.experts.0.gate_proj";
  auto w = UnpackModule(**model, config, gate, *SchemeFor(config, gate));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->group, 32);
  EXPECT_EQ(w->groups(), 2);
  EXPECT_TRUE(w->g_idx.empty());
  for (int32_t z : w->zero) EXPECT_EQ(z, 8);
}

nlohmann::json FixtureJson(const std::string& dir) {
  std::ifstream f(dir + "/config.json");
  return nlohmann::json::parse(f);
}

// AutoAWQ GEMM packing, against compressed-tensors' AutoAWQ converter and its dequantize.
TEST(PackedQuantTest, AwqMatchesCompressedTensorsConverter) {
  const std::string dir = kGolden + "awq";
  const nlohmann::json groups = FixtureJson(dir)["omnisage_test_group_sizes"];
  ExpectMatchesReference(dir, 3, /*bf16_reference=*/false,
                         [&](const QuantConfig& c, const std::string& m) {
                           QuantScheme s = *SchemeFor(c, m);
                           s.group_size = groups[m].get<int64_t>();
                           return s;
                         });
  EXPECT_FALSE(SchemeFor(ConfigOf(dir), "model.layers.0.mlp.gate"));
}

// GPTQ v1 (zeros stored minus one): asymmetric g32 and 8-bit per channel packed by auto-gptq's
// QuantLinear against its CPU forward, symmetric with a permuted g_idx (act-order).
TEST(PackedQuantTest, GptqV1WithActOrder) {
  const std::string dir = kGolden + "gptq";
  const nlohmann::json schemes = FixtureJson(dir)["omnisage_test_schemes"];
  ExpectMatchesReference(dir, 3, /*bf16_reference=*/false,
                         [&](const QuantConfig&, const std::string& m) {
                           const nlohmann::json& j = schemes[m];
                           QuantScheme s;
                           s.bits = j["bits"];
                           s.group_size = std::max<int64_t>(0, j["group_size"].get<int64_t>());
                           s.symmetric = j["sym"];
                           s.act_order = j["desc_act"];
                           return s;
                         });
  auto model = OpenCheckpointSource(dir + "/model.safetensors");
  ASSERT_TRUE(model.ok());
  QuantScheme s;
  s.group_size = 32;
  s.act_order = true;
  auto up = UnpackGptq(**model, "model.layers.0.mlp.experts.0.up_proj", s, true);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_FALSE(up->g_idx.empty());  // permuted: kept
  EXPECT_FALSE(up->ContiguousGroups());
  auto gate = UnpackGptq(**model, "model.layers.0.mlp.experts.0.gate_proj", s, true);
  ASSERT_TRUE(gate.ok());
  EXPECT_TRUE(gate->g_idx.empty());  // i / group: dropped
  EXPECT_EQ(Int4Obstacle(*gate), "");
  EXPECT_EQ(Int4Obstacle(*up), "activation-ordered groups (g_idx)");
}

// 4-bit group-wise layers become the engine's int4 without losing a bit; the others say why not.
TEST(PackedQuantTest, FourBitGroupsMapOntoTheEngineInt4Exactly) {
  const std::string dir = kGolden + "compressed_tensors";
  auto model = OpenCheckpointSource(dir + "/model.safetensors");
  ASSERT_TRUE(model.ok());
  const QuantConfig config = ConfigOf(dir);
  auto unpack = [&](const std::string& m) {
    auto w = UnpackModule(**model, config, m, *SchemeFor(config, m));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return *w;
  };
  const UnpackedWeight gate = unpack("model.layers.0.mlp.experts.0.gate_proj");  // sym, g32
  ASSERT_EQ(Int4Obstacle(gate), "");
  const std::vector<uint8_t> buf = ToEngineInt4(gate);
  std::vector<float> engine(gate.out * gate.in);
  omnisage::Dequantize(
      QuantMatrix::Of(WeightFormat::kInt4, gate.out, gate.in, gate.group, buf.data()), gate.out,
      gate.in, engine.data());
  EXPECT_EQ(engine, omnisage::Dequantize(gate));
  EXPECT_EQ(Int4Obstacle(unpack("model.layers.0.mlp.experts.0.down_proj")),
            "groups of 16 inputs (the int4 kernels take 32, 64 or 128)");
  EXPECT_EQ(Int4Obstacle(unpack("model.layers.0.self_attn.q_proj")), "8-bit values");
  UnpackedWeight ordered = gate;
  ordered.g_idx.assign(gate.in, 0);
  ordered.g_idx[0] = 1;
  EXPECT_EQ(Int4Obstacle(ordered), "activation-ordered groups (g_idx)");
  UnpackedWeight wrapped = gate;
  wrapped.zero[0] = 16;
  EXPECT_EQ(Int4Obstacle(wrapped), "a zero point of 16");
}

// A checkpoint written here tensor by tensor, for the errors.
class PackedQuantErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / fmt::format("omnisage_packed_quant_{}", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  struct T {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;  // zeros when empty
  };
  std::unique_ptr<WeightSource> Write(const std::vector<T>& tensors) {
    std::vector<TensorDecl> decls;
    for (const T& t : tensors) decls.push_back({t.name, t.dtype, t.shape});
    const std::string path = (dir_ / "model.safetensors").string();
    auto w = SafetensorsWriter::Create(path, decls);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    for (size_t i = 0; i < tensors.size(); ++i) {
      std::vector<uint8_t> b = tensors[i].bytes;
      b.resize(decls[i].nbytes());
      EXPECT_TRUE((*w)->Append(b.data(), b.size()).ok());
    }
    EXPECT_TRUE((*w)->Finish().ok());
    auto s = OpenCheckpointSource(path);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::vector<uint8_t> Shape(int64_t out, int64_t in) {
    std::vector<uint8_t> b(16);
    std::memcpy(b.data(), &out, 8);
    std::memcpy(b.data() + 8, &in, 8);
    return b;
  }
  void ExpectError(const StatusOr<UnpackedWeight>& w, const std::string& words) {
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.status().message().find(words), std::string::npos) << w.status().message();
  }
  fs::path dir_;
};

TEST_F(PackedQuantErrorsTest, CompressedTensorsShapesAndGroupsAreChecked) {
  QuantScheme s;
  s.bits = 4;
  s.group_size = 32;
  s.symmetric = false;
  const std::string m = "layers.0.q_proj";
  auto good = [&] {
    return std::vector<T>{{m + ".weight_shape", DType::kI64, {2}, Shape(16, 64)},
                          {m + ".weight_packed", DType::kI32, {16, 8}, {}},
                          {m + ".weight_scale", DType::kBF16, {16, 2}, {}},
                          {m + ".weight_zero_point", DType::kI32, {2, 2}, {}}};
  };
  {
    auto src = Write(good());
    auto w = UnpackCompressedTensors(*src, m, s);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
  }
  {
    auto t = good();
    t[1].shape = {16, 7};  // packed words disagree with [16, 64]
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s),
                "tensor 'layers.0.q_proj.weight_packed' has shape [16, 7] but a 4-bit [16, 64] "
                "layer needs [16, 8]");
  }
  {
    auto t = good();
    t[2].shape = {16, 4};  // scales for groups of 16
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s), "'layers.0.q_proj.weight_scale' has shape");
  }
  {
    auto t = good();
    t[3].shape = {16, 2};  // zero points not packed
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s), "'layers.0.q_proj.weight_zero_point'");
  }
  {
    auto t = good();
    t.pop_back();
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s),
                "tensor 'layers.0.q_proj.weight_zero_point' is missing");
  }
  {
    auto t = good();
    t[2].dtype = DType::kI32;
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s), "is I32, expected BF16 or F16 or F32");
  }
  {
    auto src = Write(good());
    QuantScheme odd = s;
    odd.group_size = 24;
    ExpectError(UnpackCompressedTensors(*src, m, odd),
                "module 'layers.0.q_proj': the group size 24 does not divide the row of 64");
    QuantScheme ordered = s;
    ordered.act_order = true;
    ExpectError(UnpackCompressedTensors(*src, m, ordered),
                "tensor 'layers.0.q_proj.weight_g_idx' is missing");
  }
  {
    auto t = good();
    t[0].bytes = Shape(-1, 64);
    auto src = Write(t);
    ExpectError(UnpackCompressedTensors(*src, m, s), "not a weight shape");
  }
}

TEST_F(PackedQuantErrorsTest, GptqGIdxOutOfRangeIsNamed) {
  QuantScheme s;
  s.bits = 4;
  s.group_size = 32;
  s.act_order = true;
  const std::string m = "mlp.down_proj";
  std::vector<uint8_t> g_idx(64 * 4, 0);
  g_idx[4 * 5] = 9;  // input 5 in group 9 of 2
  auto src = Write({{m + ".qweight", DType::kI32, {8, 16}, {}},
                    {m + ".qzeros", DType::kI32, {2, 2}, {}},
                    {m + ".scales", DType::kF16, {2, 16}, {}},
                    {m + ".g_idx", DType::kI32, {64}, g_idx}});
  ExpectError(UnpackGptq(*src, m, s, true), "'mlp.down_proj.g_idx': input 5 is in group 9");
}

}  // namespace
}  // namespace omnisage

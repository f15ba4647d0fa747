// A published checkpoint runs as a model: the tiny presets' attention and expert projections
// packed here as compressed-tensors pack-quantized, AutoAWQ GEMM or GPTQ v1/v2 4-bit (the layouts
// io/packed_quant reads and packed_quant_test checks against the packages), beside a plain bf16
// checkpoint holding the same layers dequantized. With groups the int4 kernels do not take (16)
// every packed layer is read as bf16 and the logits equal the plain checkpoint's bit for bit;
// with experts in groups of 32 they run as int4 experts (the format detected as an expert
// store's) and stay within a small distance of the plain checkpoint (the int4 kernels' int8
// activations and the plain copy's bf16 rounding are the only differences).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "../integration/cli_runner.h"
#include "generated_model.h"
#include "io/safetensors_writer.h"
#include "io/weight_source.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "runtime/speaker.h"
#include "source_paths.h"
#include "tensor/bf16.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

struct Layer {
  std::vector<uint8_t> q, zero;  // [out, in], [out, groups]
  std::vector<uint16_t> scale;   // bf16 [out, groups]
};

// Min-max asymmetric 4-bit quantization per group of `group` inputs.
Layer Quantize(const std::vector<uint16_t>& w, int64_t out, int64_t in, int64_t group) {
  const int64_t groups = in / group;
  Layer l{std::vector<uint8_t>(out * in), std::vector<uint8_t>(out * groups),
          std::vector<uint16_t>(out * groups)};
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t g = 0; g < groups; ++g) {
      float lo = 0, hi = 0;
      for (int64_t i = g * group; i < (g + 1) * group; ++i) {
        lo = std::min(lo, Bf16ToFloat(w[o * in + i]));
        hi = std::max(hi, Bf16ToFloat(w[o * in + i]));
      }
      const uint16_t s16 = FloatToBf16(std::max((hi - lo) / 15.0f, 1e-6f));
      const float s = Bf16ToFloat(s16);
      const int z = std::clamp(static_cast<int>(std::nearbyint(-lo / s)), 0, 15);
      l.scale[o * groups + g] = s16;
      l.zero[o * groups + g] = static_cast<uint8_t>(z);
      for (int64_t i = g * group; i < (g + 1) * group; ++i) {
        const int q = static_cast<int>(std::nearbyint(Bf16ToFloat(w[o * in + i]) / s)) + z;
        l.q[o * in + i] = static_cast<uint8_t>(std::clamp(q, 0, 15));
      }
    }
  }
  return l;
}

template <typename T>
std::vector<uint8_t> Bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Mean KL divergence of the next-token distributions (rows of the tiny vocabulary).
double MeanKl(const std::vector<float>& plain, const std::vector<float>& packed) {
  const int64_t vocab = 4096, rows = static_cast<int64_t>(plain.size()) / vocab;
  if (rows == 0 || packed.size() != plain.size()) return 1e9;
  double kl = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = plain.data() + r * vocab;
    const float* q = packed.data() + r * vocab;
    const double mp = *std::max_element(p, p + vocab), mq = *std::max_element(q, q + vocab);
    double zp = 0, zq = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      zp += std::exp(p[i] - mp);
      zq += std::exp(q[i] - mq);
    }
    for (int64_t i = 0; i < vocab; ++i) {
      const double lp = p[i] - mp - std::log(zp), lq = q[i] - mq - std::log(zq);
      kl += std::exp(lp) * (lp - lq);
    }
  }
  return kl / static_cast<double>(rows);
}

class PublishedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / fmt::format("omnisage_published_{}", getpid());
    fs::remove_all(dir_);
  }
  void Synth(Arch arch) {
    ASSERT_TRUE(::omnisage::test_paths::SynthesizeTestModel((dir_ / "bf16").string(), arch).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  enum class Packer { kCt, kAwq, kGptq, kGptqV2 };
  struct Out {
    TensorDecl decl;
    std::vector<uint8_t> bytes;
  };

  // AutoAWQ GEMM or GPTQ v1/v2 (io/packed_quant.h's layouts), scales in fp16 (the bf16 scales are
  // exact in fp16 at these magnitudes, so every packer dequantizes to the same values).
  void PackAwqOrGptq(const Layer& l, const std::string& m, int64_t out, int64_t in, int64_t group,
                     std::vector<Out>* packed) const {
    const int64_t groups = in / group;
    std::vector<uint16_t> scales(groups * out);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t o = 0; o < out; ++o) {
        const _Float16 h = static_cast<_Float16>(Bf16ToFloat(l.scale[o * groups + g]));
        std::memcpy(&scales[g * out + o], &h, 2);
      }
    }
    std::vector<uint32_t> zeros(groups * (out / 8), 0);
    if (packer_ == Packer::kAwq) {
      static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
      std::vector<uint32_t> q(in * (out / 8), 0);
      for (int64_t c = 0; c < out / 8; ++c) {
        for (int j = 0; j < 8; ++j) {
          const int64_t o = 8 * c + kOrder[j];
          for (int64_t i = 0; i < in; ++i) {
            q[i * (out / 8) + c] |= static_cast<uint32_t>(l.q[o * in + i]) << (4 * j);
          }
          for (int64_t g = 0; g < groups; ++g) {
            zeros[g * (out / 8) + c] |= static_cast<uint32_t>(l.zero[o * groups + g]) << (4 * j);
          }
        }
      }
      packed->push_back({{m + ".qweight", DType::kI32, {in, out / 8}}, Bytes(q)});
    } else {
      std::vector<uint32_t> q((in / 8) * out, 0);
      std::vector<int32_t> g_idx(in);
      for (int64_t i = 0; i < in; ++i) {
        g_idx[i] = static_cast<int32_t>(i / group);
        for (int64_t o = 0; o < out; ++o) {
          q[(i / 8) * out + o] |= static_cast<uint32_t>(l.q[o * in + i]) << (4 * (i % 8));
        }
      }
      for (int64_t g = 0; g < groups; ++g) {
        for (int64_t o = 0; o < out; ++o) {  // v1: stored minus one
          const uint32_t z = static_cast<uint32_t>(l.zero[o * groups + g]);
          zeros[g * (out / 8) + o / 8] |= ((packer_ == Packer::kGptq ? z - 1 : z) & 15)
                                          << (4 * (o % 8));
        }
      }
      packed->push_back({{m + ".qweight", DType::kI32, {in / 8, out}}, Bytes(q)});
      packed->push_back({{m + ".g_idx", DType::kI32, {in}}, Bytes(g_idx)});
    }
    packed->push_back({{m + ".qzeros", DType::kI32, {groups, out / 8}}, Bytes(zeros)});
    packed->push_back({{m + ".scales", DType::kF16, {groups, out}}, Bytes(scales)});
  }

  Packer packer_ = Packer::kCt;

  // Writes `name` (compressed-tensors, attention in groups of 16 and experts in groups of
  // `expert_group`; without the tensor `drop`) and `name`-plain (the same layers dequantized,
  // bf16).
  void Write(const std::string& name, int64_t expert_group, const std::string& drop = "") {
    auto source = OpenCheckpointSource((dir_ / "bf16").string());
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    const std::regex attention(".*self_attn\\.[qkvo]_proj\\.weight$");
    const std::regex expert(".*mlp\\.experts\\.\\d+\\.(gate|up|down)_proj\\.weight$");
    std::vector<Out> packed, plain;
    for (const WeightEntry& t : (*source)->tensors()) {
      std::vector<uint8_t> raw(t.nbytes);
      ASSERT_TRUE((*source)->Read(t, 0, t.nbytes, raw.data()).ok());
      const bool is_expert = std::regex_match(t.name, expert);
      const int64_t want_group = is_expert || packer_ != Packer::kCt ? expert_group : 16;
      const bool fits = t.shape.size() == 2 && t.shape[0] % 8 == 0 && t.shape[1] % want_group == 0;
      if (!fits || (!is_expert && !std::regex_match(t.name, attention))) {  // stays bf16
        packed.push_back({{t.name, t.dtype, t.shape}, raw});
        plain.push_back({{t.name, t.dtype, t.shape}, raw});
        continue;
      }
      const int64_t out = t.shape[0], in = t.shape[1], group = want_group;
      const int64_t groups = in / group;
      std::vector<uint16_t> w(t.numel);
      std::memcpy(w.data(), raw.data(), raw.size());
      const Layer l = Quantize(w, out, in, group);
      const std::string m = t.name.substr(0, t.name.size() - std::strlen(".weight"));
      std::vector<uint32_t> words(out * in / 8, 0), zp(out / 8 * groups, 0);
      std::vector<uint16_t> deq(out * in);
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < in; ++i) {
          words[o * (in / 8) + i / 8] |= static_cast<uint32_t>(l.q[o * in + i]) << (4 * (i % 8));
          const int64_t g = o * groups + i / group;
          deq[o * in + i] = FloatToBf16(Bf16ToFloat(l.scale[g]) *
                                        static_cast<float>(l.q[o * in + i] - l.zero[g]));
        }
        for (int64_t g = 0; g < groups; ++g) {
          zp[(o / 8) * groups + g] |= static_cast<uint32_t>(l.zero[o * groups + g])
                                      << (4 * (o % 8));
        }
      }
      plain.push_back({{t.name, DType::kBF16, t.shape}, Bytes(deq)});
      if (packer_ != Packer::kCt) {
        PackAwqOrGptq(l, m, out, in, group, &packed);
        continue;
      }
      const std::vector<int64_t> shape = {out, in};
      packed.push_back({{m + ".weight_packed", DType::kI32, {out, in / 8}}, Bytes(words)});
      if (m + ".weight_scale" != drop) {
        packed.push_back({{m + ".weight_scale", DType::kBF16, {out, groups}}, Bytes(l.scale)});
      }
      packed.push_back({{m + ".weight_zero_point", DType::kI32, {out / 8, groups}}, Bytes(zp)});
      packed.push_back({{m + ".weight_shape", DType::kI64, {2}}, Bytes(shape)});
    }
    std::ifstream config_in(dir_ / "bf16" / "config.json");
    nlohmann::json config = nlohmann::json::parse(config_in);
    auto scheme = [](int64_t group) {
      return nlohmann::json{{"num_bits", 4},       {"type", "int"},       {"symmetric", false},
                            {"strategy", "group"}, {"group_size", group}, {"actorder", nullptr}};
    };
    auto write = [&](const std::string& to, const std::vector<Out>& tensors, bool quantized) {
      fs::create_directories(dir_ / to);
      std::vector<TensorDecl> decls;
      for (const Out& t : tensors) decls.push_back(t.decl);
      auto w = SafetensorsWriter::Create((dir_ / to / "model.safetensors").string(), decls);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      for (const Out& t : tensors) ASSERT_TRUE((*w)->Append(t.bytes.data(), t.bytes.size()).ok());
      ASSERT_TRUE((*w)->Finish().ok());
      nlohmann::json c = config;
      if (quantized && packer_ == Packer::kAwq) {
        c["quantization_config"] = {{"quant_method", "awq"},
                                    {"bits", 4},
                                    {"group_size", expert_group},
                                    {"zero_point", true},
                                    {"version", "gemm"}};
      } else if (quantized && packer_ != Packer::kCt) {
        c["quantization_config"] = {
            {"quant_method", "gptq"},
            {"bits", 4},
            {"group_size", expert_group},
            {"desc_act", false},
            {"sym", false},
            {"checkpoint_format", packer_ == Packer::kGptq ? "gptq" : "gptq_v2"}};
      } else if (quantized) {
        c["quantization_config"] = {
            {"quant_method", "compressed-tensors"},
            {"format", "pack-quantized"},
            {"quantization_status", "compressed"},
            {"ignore", {"lm_head"}},
            {"config_groups",
             {{"experts",
               {{"targets", {"re:.*mlp\\.experts\\..*"}}, {"weights", scheme(expert_group)}}},
              {"attention",
               {{"targets", {"re:.*self_attn\\.[qkvo]_proj$"}}, {"weights", scheme(16)}}}}}};
      }
      std::ofstream(dir_ / to / "config.json") << c.dump(1);
      for (const auto& f : fs::directory_iterator(dir_ / "bf16")) {
        const std::string file = f.path().filename().string();
        if (file.find(".safetensors") == std::string::npos && file != "config.json") {
          fs::copy_file(f.path(), dir_ / to / file);
        }
      }
    };
    write(name, packed, true);
    write(name + "-plain", plain, false);
  }

  std::vector<float> Logits(const std::string& name, Engine** keep = nullptr) {
    auto engine = Engine::Load({.model = (dir_ / name).string(), .threads = 2, .context = 64});
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    if (!engine.ok()) return {};
    Session s(engine->get());
    Prompt p;
    p.ids = (*engine)->tokenizer()->Encode("<|im_start|>user\nWhat is the weather like?");
    auto logits = s.EvalAll(p);
    EXPECT_TRUE(logits.ok()) << logits.status().ToString();
    format_ = (*engine)->config().text.expert_format;
    group_ = (*engine)->config().text.expert_group;
    return logits.ok() ? *logits : std::vector<float>{};
  }

  fs::path dir_;
  WeightFormat format_ = WeightFormat::kBf16;
  int64_t group_ = 0;
};

TEST_F(PublishedCheckpointTest, Bf16LayersGiveThePlainCheckpointsLogitsExactly) {
  Synth(Arch::kQwen3Moe);
  Write("ct16", 16);
  const std::vector<float> plain = Logits("ct16-plain");
  const std::vector<float> packed = Logits("ct16");
  EXPECT_EQ(format_, WeightFormat::kBf16);  // groups of 16: read as bf16
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(packed, plain);
}

TEST_F(PublishedCheckpointTest, Int4ExpertsRunThroughTheInt4Path) {
  Synth(Arch::kQwen3Moe);
  Write("ct32", 32);
  const std::vector<float> plain = Logits("ct32-plain");
  const std::vector<float> packed = Logits("ct32");
  EXPECT_EQ(format_, WeightFormat::kInt4);
  EXPECT_EQ(group_, 32);
  ASSERT_EQ(packed.size(), plain.size());
  ASSERT_FALSE(plain.empty());
  // The command line takes the directory as it takes any checkpoint.
  CliResult run = RunCli("run --model " + (dir_ / "ct32").string() +
                         " --prompt 'What is the weather like?' --max-tokens 4 --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(nlohmann::json::parse(run.out)["token_ids"].size(), 4u) << run.out;
  // extract copies unquantized checkpoints, and says so rather than copying packed tensors.
  CliResult ex =
      RunCli("extract " + (dir_ / "ct32").string() + " --out " + (dir_ / "store").string());
  EXPECT_NE(ex.exit_code, 0);
  EXPECT_NE(ex.out.find("a published quantized checkpoint (compressed-tensors pack-quantized"),
            std::string::npos)
      << ex.out;
  EXPECT_FALSE(fs::exists(dir_ / "store" / "manifest.json"));
  CliResult inspect = RunCli("inspect --json " + (dir_ / "ct32").string());
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out;
  EXPECT_EQ(nlohmann::json::parse(
                inspect.out)["quantization"]["components"]["text"]["int4_exact_modules"],
            2 * 8 * 3)
      << inspect.out;  // 2 MoE layers × 8 experts × 3 projections
  const double kl = MeanKl(plain, packed);
  const bool differ = plain != packed;
  EXPECT_TRUE(differ);  // the int4 kernels ran, not the bf16 ones
  // Only the arithmetic differs (the int4 kernels' int8 activations, the plain copy's bf16
  // rounding of the dequantized experts), not the weights.
  EXPECT_LT(kl, 1e-4);
  RecordProperty("mean_kl", fmt::format("{:.3g}", kl));
  std::printf("mean KL against the plain checkpoint: %.3g\n", kl);
}

TEST_F(PublishedCheckpointTest, APackedModuleTheConfigLeavesAloneIsNamed) {
  Synth(Arch::kQwen3Moe);
  Write("ct32", 32);
  std::ifstream in(dir_ / "ct32" / "config.json");
  nlohmann::json c = nlohmann::json::parse(in);
  c["quantization_config"]["ignore"].push_back("re:.*layers\\.1\\.self_attn.*");
  std::ofstream(dir_ / "ct32" / "config.json") << c.dump();
  auto engine = Engine::Load({.model = (dir_ / "ct32").string(), .threads = 2, .context = 64});
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find(
                "tensor 'model.layers.1.self_attn.q_proj.weight_packed' is packed, but the "
                "quantization_config leaves module 'model.layers.1.self_attn.q_proj' unquantized"),
            std::string::npos)
      << engine.status().message();
}

// A Qwen3-Omni build whose talker is incomplete (one packed tensor missing): the thinker loads and
// answers; the talker, loaded for speech, names the tensor.
TEST_F(PublishedCheckpointTest, TheThinkerRunsWhenTheTalkerIsIncomplete) {
  Synth(Arch::kQwen3OmniMoe);
  const std::string missing = "talker.model.layers.0.self_attn.q_proj.weight_scale";
  Write("omni", 32, missing);
  const std::vector<float> plain = Logits("omni-plain");
  const std::vector<float> packed = Logits("omni");
  ASSERT_FALSE(packed.empty());
  EXPECT_EQ(packed.size(), plain.size());
  auto engine = Engine::Load({.model = (dir_ / "omni").string(), .threads = 2, .context = 64});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto speaker = Speaker::Load(engine->get());
  ASSERT_FALSE(speaker.ok());
  EXPECT_NE(speaker.status().message().find("tensor '" + missing + "' is missing"),
            std::string::npos)
      << speaker.status().message();
}

// The same through AutoAWQ's GEMM and GPTQ's v1 and v2 packing: groups of 16 read as bf16 give the
// plain checkpoint's logits bit for bit; groups of 32 run the experts as int4.
TEST_F(PublishedCheckpointTest, AwqAndGptqRunAsModels) {
  Synth(Arch::kQwen3Moe);
  for (Packer packer : {Packer::kAwq, Packer::kGptq, Packer::kGptqV2}) {
    packer_ = packer;
    const std::string name = packer == Packer::kAwq    ? "awq"
                             : packer == Packer::kGptq ? "gptq"
                                                       : "gptq_v2";
    Write(name + "16", 16);
    const std::vector<float> plain = Logits(name + "16-plain");
    const std::vector<float> packed = Logits(name + "16");
    EXPECT_EQ(format_, WeightFormat::kBf16) << name;
    ASSERT_FALSE(plain.empty());
    EXPECT_EQ(packed, plain) << name;
    Write(name + "32", 32);
    const std::vector<float> plain32 = Logits(name + "32-plain");
    const std::vector<float> packed32 = Logits(name + "32");
    EXPECT_EQ(format_, WeightFormat::kInt4) << name;
    EXPECT_EQ(group_, 32) << name;
    const double kl = MeanKl(plain32, packed32);
    EXPECT_LT(kl, 1e-4) << name;
    std::printf("%s g32: mean KL against the plain checkpoint %.3g\n", name.c_str(), kl);
  }
}

}  // namespace
}  // namespace omnisage

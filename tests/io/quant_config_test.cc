// quantization_config as AutoAWQ, GPTQ and compressed-tensors write it: the scheme of each module,
// the modules left unquantized, and the errors that name the field.
#include "io/quant_config.h"

#include <gtest/gtest.h>

namespace omnisage {
namespace {

using json = nlohmann::json;

QuantConfig Parse(const std::string& text) {
  auto c = ParseQuantConfig(json::parse(text), "m/config.json: quantization_config");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : QuantConfig{};
}

void ExpectError(const std::string& text, const std::string& words) {
  auto c = ParseQuantConfig(json::parse(text), "m/config.json: quantization_config");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_NE(c.status().message().find(words), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("m/config.json: quantization_config"), std::string::npos)
      << c.status().message();
}

TEST(QuantConfigTest, Awq) {
  const QuantConfig c = Parse(R"({"quant_method": "awq", "bits": 4, "group_size": 128,
      "zero_point": true, "version": "GEMM", "modules_to_not_convert": ["visual", "talker"]})");
  EXPECT_EQ(c.method, QuantMethod::kAwq);
  EXPECT_EQ(c.format, "gemm");
  auto s = SchemeFor(c, "thinker.model.layers.0.mlp.experts.3.gate_proj");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bits, 4);
  EXPECT_EQ(s->group_size, 128);
  EXPECT_FALSE(s->symmetric);
  EXPECT_FALSE(SchemeFor(c, "thinker.visual.blocks.0.attn.qkv"));
  EXPECT_FALSE(SchemeFor(c, "talker.model.layers.0.self_attn.q_proj"));
  // AutoAWQ's own quant_config.json spelling.
  const QuantConfig a = Parse(R"({"quant_method": "awq", "w_bit": 4, "q_group_size": 64})");
  EXPECT_EQ(SchemeFor(a, "x")->group_size, 64);
  EXPECT_EQ(DescribeQuantConfig(c), "awq gemm int4 g128 asym, 2 ignore rules");
}

TEST(QuantConfigTest, GptqWithDynamicRules) {
  const QuantConfig c = Parse(R"({"quant_method": "gptq", "bits": 4, "group_size": 32,
      "desc_act": true, "sym": false, "checkpoint_format": "gptq",
      "dynamic": {"-:.*visual.*": {}, "+:.*down_proj": {"bits": 8, "group_size": -1}}})");
  EXPECT_EQ(c.method, QuantMethod::kGptq);
  EXPECT_EQ(c.format, "gptq");
  auto s = SchemeFor(c, "model.layers.0.mlp.experts.1.up_proj");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bits, 4);
  EXPECT_EQ(s->group_size, 32);
  EXPECT_FALSE(s->symmetric);
  EXPECT_TRUE(s->act_order);
  auto down = SchemeFor(c, "model.layers.0.mlp.experts.1.down_proj");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->bits, 8);
  EXPECT_EQ(down->group_size, 0);  // per channel
  EXPECT_FALSE(down->symmetric);   // the rest from the base scheme
  EXPECT_FALSE(SchemeFor(c, "thinker.visual.merger.mlp.0"));
  EXPECT_EQ(DescribeQuantConfig(c),
            "gptq gptq int4 g32 asym act-order (2 schemes), 1 ignore rules");
  // GPTQModel's "format" key, and v2 zeros.
  EXPECT_EQ(Parse(R"({"quant_method": "gptq", "bits": 8, "format": "gptq_v2"})").format, "gptq_v2");
  // Defaults: symmetric, no act-order.
  auto d = SchemeFor(Parse(R"({"quant_method": "gptq", "bits": 4, "group_size": 128})"), "x");
  EXPECT_TRUE(d->symmetric);
  EXPECT_FALSE(d->act_order);
}

TEST(QuantConfigTest, CompressedTensorsPackQuantized) {
  const QuantConfig c = Parse(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "quantization_status": "compressed", "kv_cache_scheme": null,
      "config_groups": {
        "group_0": {"targets": ["re:.*mlp\\.experts\\..*"], "format": "pack-quantized",
                    "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group",
                                "group_size": 32, "actorder": null, "dynamic": false},
                    "input_activations": null, "output_activations": null},
        "group_1": {"targets": ["Linear"],
                    "weights": {"num_bits": 8, "type": "int", "symmetric": false,
                                "strategy": "channel", "actorder": "weight"}}},
      "ignore": ["lm_head", "re:.*mlp\\.gate$", "re:talker.*"]})");
  EXPECT_EQ(c.method, QuantMethod::kCompressedTensors);
  EXPECT_EQ(c.format, "pack-quantized");
  auto e = SchemeFor(c, "thinker.model.layers.0.mlp.experts.7.down_proj");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->bits, 4);
  EXPECT_EQ(e->group_size, 32);
  EXPECT_TRUE(e->symmetric);
  auto q = SchemeFor(c, "thinker.model.layers.0.self_attn.q_proj");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->bits, 8);
  EXPECT_EQ(q->group_size, 0);
  EXPECT_FALSE(q->symmetric);
  EXPECT_FALSE(q->act_order);  // "weight" keeps groups contiguous
  EXPECT_FALSE(SchemeFor(c, "lm_head"));
  EXPECT_FALSE(SchemeFor(c, "thinker.model.layers.0.mlp.gate"));
  EXPECT_TRUE(SchemeFor(c, "thinker.model.layers.0.mlp.gate_proj"));  // re.match, then $
  EXPECT_FALSE(SchemeFor(c, "talker.model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(SchemeFor(c, "thinker.talker_like.q_proj"));  // anchored at the start only
  // A group's format stands in for a missing top-level one; actorder "group" keeps a g_idx.
  const QuantConfig g = Parse(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {
      "targets": ["Linear"], "format": "pack-quantized", "weights": {"num_bits": 4,
      "strategy": "group", "group_size": 128, "actorder": "group"}}}})");
  EXPECT_EQ(g.format, "pack-quantized");
  EXPECT_TRUE(SchemeFor(g, "a.b")->act_order);
}

TEST(QuantConfigTest, BadConfigsNameTheField) {
  ExpectError(R"([])", "must be an object");
  ExpectError(R"({"quant_method": "bitsandbytes"})", "quant_method: 'bitsandbytes' is not");
  ExpectError(R"({"bits": 4})", "quant_method: '' is not");
  ExpectError(R"({"quant_method": "awq", "bits": 3})", "bits: AWQ packs 4-bit");
  ExpectError(R"({"quant_method": "awq", "version": "exllama"})", "version: AWQ packing 'exllama'");
  ExpectError(R"({"quant_method": "awq", "group_size": 0})", "group_size: must be positive or -1");
  ExpectError(R"({"quant_method": "awq", "group_size": "128"})", "group_size: must be an integer");
  ExpectError(R"({"quant_method": "awq", "modules_to_not_convert": "visual"})",
              "modules_to_not_convert: must be a list");
  ExpectError(R"({"quant_method": "gptq", "bits": 2})", "bits: 2-bit weights are not supported");
  ExpectError(R"({"quant_method": "gptq", "checkpoint_format": "marlin"})", "GPTQ format 'marlin'");
  ExpectError(R"({"quant_method": "gptq", "desc_act": 1})", "desc_act: must be true or false");
  ExpectError(R"({"quant_method": "gptq", "dynamic": {"-:(": {}}})", "does not compile");
  ExpectError(R"({"quant_method": "gptq", "dynamic": {"+:x": {"bits": 5}}})",
              "dynamic[\"+:x\"].bits: 5-bit");
  const std::string ct = R"({"quant_method": "compressed-tensors", "format": "pack-quantized", )";
  ExpectError(ct + R"("config_groups": {}})", "config_groups: must be a non-empty object");
  ExpectError(ct + R"("config_groups": {"g": {"targets": [], "weights": {}}}})",
              "config_groups.g.targets: must name");
  ExpectError(ct + R"("config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4,
      "type": "float", "strategy": "group", "group_size": 8}}}})",
              "config_groups.g.weights.type: 'float' weights");
  ExpectError(ct + R"("config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4,
      "strategy": "tensor"}}}})",
              "strategy 'tensor' is not supported");
  ExpectError(ct + R"("config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4,
      "strategy": "group"}}}})",
              "weights.group_size: is missing");
  ExpectError(ct + R"("config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8,
      "strategy": "channel"}, "input_activations": {"num_bits": 8}}}})",
              "input_activations: activation quantization is not supported");
  ExpectError(ct + R"("quantization_status": "frozen", "config_groups": {"g": {}}})",
              "quantization_status: 'frozen'");
  ExpectError(R"({"quant_method": "compressed-tensors", "format": "float-quantized",
      "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8,
      "strategy": "channel"}}}})",
              "format 'float-quantized' is not supported");
  ExpectError(ct + R"("kv_cache_scheme": {"num_bits": 8}, "config_groups": {"g": {}}})",
              "kv_cache_scheme: quantized KV caches");
  ExpectError(ct + R"("ignore": ["re:[z-a]"], "config_groups": {"g": {}}})", "does not compile");
  // Found by quant_config_fuzz: libstdc++ overflows on a long back-reference number.
  ExpectError(R"({"quant_method": "gptq", "dynamic": {"+:a\\15054533381044946716": {}}})",
              "uses a back-reference");
  ExpectError(R"({"quant_method": "gptq", "dynamic": {"-:(a{1000}){1000}": {}}})",
              "uses a counted repetition");
}

}  // namespace
}  // namespace omnisage

// The quantization of a published checkpoint: the "quantization_config" object of a Hugging Face
// config.json, as the three packers that publish 4- and 8-bit builds write it.
//
//   AutoAWQ            {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": true,
//                       "version": "gemm", "modules_to_not_convert": ["visual", …]}
//   GPTQ (AutoGPTQ,    {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": false,
//   GPTQModel)          "sym": true, "checkpoint_format": "gptq" | "gptq_v2",
//                       "dynamic": {"-:REGEX": {}, "+:REGEX": {"bits": 8, …}}}
//   compressed-tensors {"quant_method": "compressed-tensors", "format": "pack-quantized",
//   (llm-compressor)    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
//                         "num_bits": 4, "type": "int", "symmetric": true, "strategy": "group",
//                         "group_size": 128, "actorder": null}, "input_activations": null}},
//                       "ignore": ["lm_head", "re:.*mlp.gate$"], "quantization_status":
//                       "compressed"}
//
// What is read: weight-only integer schemes of 4 or 8 bits, per group of input columns (a group
// size) or per output channel (group size −1 in AWQ/GPTQ, strategy "channel"), symmetric or with
// zero points, with or without activation order (GPTQ desc_act, compressed-tensors actorder:
// a g_idx tensor maps each input column to its group). AWQ's "gemm" packing only; GPTQ's v1
// convention (zeros stored minus one, checkpoint_format "gptq" or absent) and v2; compressed-
// tensors' "pack-quantized" format with status "compressed".
//
// Which modules are quantized: a module (a Linear layer, named as in the checkpoint without
// ".weight", e.g. "thinker.model.layers.0.mlp.experts.3.gate_proj") is left unquantized when an
// ignore entry matches it, else it takes the scheme of the first group whose targets match it.
// Matching follows each packer: compressed-tensors "re:REGEX" entries match from the start of
// the name (Python's re.match), other entries are a class name ("Linear": every module here) or
// the exact module name; AWQ's modules_to_not_convert and GPTQ's modules lists match as
// substrings of the name (as transformers does); GPTQModel's dynamic "-:REGEX" ignores and
// "+:REGEX" / "REGEX" override bits, group_size, sym and desc_act for the matching modules.
//
// Errors (InvalidArgument) name `where` and the field: an unknown quant_method, format, version
// or strategy, a type other than "int", bits other than 4 or 8, a group size that is neither
// positive nor −1, activation quantization, a regex that does not compile (or is over 512
// characters, nested over 16 deep, or uses {m,n} or a back-reference: std::regex recurses and
// does not check its numbers). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace omnisage {

enum class QuantMethod { kAwq, kGptq, kCompressedTensors };
std::string_view QuantMethodName(QuantMethod m);  // "awq", "gptq", "compressed-tensors"

// How one module's weight [out, in] is stored.
struct QuantScheme {
  int bits = 4;
  int64_t group_size = 0;  // input columns per scale; 0: one scale per output row (channel)
  bool symmetric = true;   // no zero points stored (the zero is the middle of the range)
  bool act_order = false;  // a g_idx tensor assigns each input column its group
};

// A module pattern as the packer matches it.
struct ModulePattern {
  enum class Kind { kClass, kExact, kRegex, kSubstring };
  Kind kind = Kind::kExact;
  std::string text;                      // the class name, the name, the regex, the substring
  std::shared_ptr<const std::regex> re;  // kRegex: compiled (ECMAScript)
  bool Matches(std::string_view module) const;
};
// Errors: a regex that does not compile (named with `where`).
StatusOr<ModulePattern> MakePattern(ModulePattern::Kind kind, std::string text,
                                    const std::string& where);

struct QuantGroup {
  std::string name;                    // "group_0"; "" for AWQ/GPTQ's one scheme
  std::vector<ModulePattern> targets;  // empty: every module
  QuantScheme scheme;
};

struct QuantConfig {
  QuantMethod method = QuantMethod::kAwq;
  // awq: "gemm"; gptq: "gptq" (v1: zeros stored minus one) or "gptq_v2"; compressed-tensors:
  // "pack-quantized".
  std::string format;
  std::vector<ModulePattern> ignore;  // modules left unquantized
  std::vector<QuantGroup> groups;     // the first whose targets match a module gives its scheme
};

// Parses config.json's "quantization_config" value; `where` names it in errors
// ("DIR/config.json: quantization_config").
StatusOr<QuantConfig> ParseQuantConfig(const nlohmann::json& q, const std::string& where);

// The quantization_config of config.json at `config_path`, or nullopt when it has none (an
// unquantized checkpoint). Errors: the file cannot be read or parsed, or ParseQuantConfig's.
StatusOr<std::optional<QuantConfig>> LoadQuantConfig(const std::string& config_path);

// The scheme of `module` (a Linear layer's name, without ".weight"), or nullopt when the config
// leaves it unquantized.
std::optional<QuantScheme> SchemeFor(const QuantConfig& config, std::string_view module);

// One line for reports: "gptq gptq int4 g128 asym act-order", "compressed-tensors pack-quantized
// int4 g32 sym, 2 ignore rules", … (the scheme of every module, else the first group's, and how
// many schemes and ignore rules there are).
std::string DescribeQuantConfig(const QuantConfig& config);

}  // namespace omnisage

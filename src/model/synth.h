// The checkpoint generator behind `omnisage synth`: writes a Hugging Face checkpoint directory
// (config.json, model.safetensors.index.json, model-0000N-of-0000M.safetensors, tokenizer files)
// with the real tensor names and dtypes of Qwen3-Omni or Qwen3-MoE, at a preset's scale.
//
// Weights are deterministic for a seed: each tensor draws from its own generator seeded by
// (seed, tensor name), so a tensor's bytes do not depend on the order, the shard layout or the
// preset's other tensors. Scales keep activations finite and non-trivial through every layer:
// linear weights uniform with variance 1/fan_in, norm weights 1 + U(-0.1, 0.1), biases U(-0.02,
// 0.02), embeddings variance 1, routers 2x the linear scale so routing is decisive.
// A fused-layout checkpoint holds the same data as the per-expert one (each fused tensor is its
// experts' tensors laid end to end). With `sparse`, tensor data is left as holes in the files
// (all zeros): the full-size checkpoint then costs almost no disk and serves inspect and memory
// planning.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/config.h"
#include "model/presets.h"
#include "model/tensor_table.h"
#include "util/status.h"

namespace omnisage {

struct SynthOptions {
  Preset preset = Preset::kTiny;
  Arch arch = Arch::kQwen3OmniMoe;
  uint64_t seed = 0;
  bool sparse = false;
  ExpertLayout layout = ExpertLayout::kPerExpert;
  int num_shards = 0;  // 0: the preset's default (tiny 2, small 4, full 15)
  std::string out_dir;
  std::string tokenizer_dir;  // holds the Qwen3 tokenizer.json + tokenizer_config.json
  bool progress = true;       // draw a progress bar on a terminal
  // A qwen3_moe checkpoint whose text model becomes the thinker (model/twin.h); the preset's
  // arch must be qwen3_omni_moe, its other components are generated. Not with `sparse`.
  std::string thinker_from;
};

struct SynthReport {
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t bytes = 0;  // tensor data bytes
  int shards = 0;
};

StatusOr<SynthReport> SynthesizeCheckpoint(const SynthOptions& options);

// Fills `out` with `n` bf16 values of tensor `spec`, continuing from element `first` of the
// tensor's deterministic stream. Exposed for tests.
void GenerateBf16(const TensorSpec& spec, uint64_t seed, uint64_t first, uint64_t n, uint16_t* out);

}  // namespace omnisage

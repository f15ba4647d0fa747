#include "model/synth.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "io/checkpoint.h"
#include "io/file.h"
#include "io/file_system.h"
#include "io/safetensors_writer.h"
#include "model/synth_tokenizer.h"
#include "model/twin.h"
#include "tensor/bf16.h"
#include "tensor/dtype.h"
#include "util/progress.h"

namespace omnisage {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t HashName(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

struct Distribution {
  float center;
  float half_width;  // uniform in [center - w, center + w]
};

Distribution DistributionFor(const TensorSpec& t) {
  const float linear = std::sqrt(3.0f / static_cast<float>(std::max<int64_t>(t.fan_in, 1)));
  switch (t.init) {
    case Init::kLinear:
      return {0.0f, linear};
    case Init::kRouter:
      return {0.0f, 2.0f * linear};
    case Init::kEmbedding:
      return {0.0f, std::sqrt(3.0f)};
    case Init::kNormWeight:
      return {1.0f, 0.1f};
    case Init::kBias:
      return {0.0f, 0.02f};
    case Init::kLayerScale:
      return {0.1f, 0.01f};
    case Init::kLogScale:
      return {0.0f, 0.1f};
  }
  return {0.0f, linear};
}

int DefaultShards(Preset p) {
  switch (p) {
    case Preset::kTiny:
      return 2;
    case Preset::kSmall:
      return 4;
    case Preset::kFull:
      return 15;
  }
  return 1;
}

// Splits tensors, in order, into `n` shards of about equal bytes.
std::vector<std::vector<const TensorSpec*>> PlanShards(const std::vector<TensorSpec>& tensors,
                                                       int n) {
  uint64_t total = 0;
  for (const TensorSpec& t : tensors) total += t.nbytes();
  const uint64_t target = (total + n - 1) / n;
  std::vector<std::vector<const TensorSpec*>> shards(1);
  uint64_t in_shard = 0;
  for (const TensorSpec& t : tensors) {
    if (in_shard > 0 && in_shard + t.nbytes() / 2 > target && static_cast<int>(shards.size()) < n) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&t);
    in_shard += t.nbytes();
  }
  return shards;
}

// The data of a fused expert tensor is the per-expert tensors' data laid end to end (gate rows
// then up rows for gate_up_proj), so a fused checkpoint holds the same model as a per-expert one.
std::vector<TensorSpec> DataParts(const TensorSpec& t) {
  const std::vector<FusedExpertPart> fused = FusedExpertParts(t.name, t.shape);
  if (fused.empty()) return {t};
  std::vector<TensorSpec> parts;
  for (const FusedExpertPart& f : fused) {
    TensorSpec p = t;
    p.name = f.name;
    p.shape = f.shape;
    p.fan_in = f.shape[1];
    parts.push_back(std::move(p));
  }
  return parts;
}

// preprocessor_config.json of Qwen3-Omni (spec §1.6): WhisperFeatureExtractor's settings (300 s
// at most, no dither, an attention mask) and Qwen2VLImageProcessor's, in one file as the
// published repository ships them; the audio values follow the audio config.
nlohmann::ordered_json PreprocessorConfig(const ModelConfig& c) {
  return {{"processor_class", "Qwen3OmniMoeProcessor"},
          {"feature_extractor_type", "WhisperFeatureExtractor"},
          {"feature_size", c.audio.num_mel_bins},
          {"sampling_rate", 16000},
          {"hop_length", 160},
          {"n_fft", 400},
          {"chunk_length", 300},
          {"n_samples", 4800000},
          {"nb_max_frames", 30000},
          {"dither", 0.0},
          {"padding_side", "right"},
          {"padding_value", 0.0},
          {"return_attention_mask", true},
          {"image_processor_type", "Qwen2VLImageProcessor"},
          {"patch_size", c.vision.patch_size},
          {"temporal_patch_size", c.vision.temporal_patch_size},
          {"merge_size", c.vision.spatial_merge_size},
          {"min_pixels", 3136},
          {"max_pixels", 12845056},
          {"image_mean", {0.5, 0.5, 0.5}},
          {"image_std", {0.5, 0.5, 0.5}}};
}

}  // namespace

void GenerateBf16(const TensorSpec& spec, uint64_t seed, uint64_t first, uint64_t n,
                  uint16_t* out) {
  const Distribution d = DistributionFor(spec);
  const uint64_t key = SplitMix64(seed ^ HashName(spec.name));
  constexpr float kScale = 1.0f / 16777216.0f;  // 2^-24
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t idx = first + i;
    const uint64_t r = SplitMix64(key + (idx >> 1) * 0xD1B54A32D192ED03ull);
    const uint32_t bits = static_cast<uint32_t>((idx & 1) ? (r >> 32) : r);
    const float u = static_cast<float>(bits >> 8) * kScale;  // [0, 1)
    out[i] = FloatToBf16(d.center + d.half_width * (2.0f * u - 1.0f));
  }
}

namespace {

// The thinker source of a twin: its checkpoint, and the expert layout it stores.
struct ThinkerSource {
  std::unique_ptr<Checkpoint> checkpoint;
  ModelConfig config;
  ExpertLayout layout = ExpertLayout::kPerExpert;
};

StatusOr<ThinkerSource> OpenThinkerSource(const SynthOptions& o) {
  if (o.sparse) return InvalidArgument("--thinker-from: a twin's weights are data, not --sparse");
  ThinkerSource s;
  OMNI_ASSIGN_OR_RETURN(s.checkpoint, Checkpoint::Open(o.thinker_from));
  if (s.checkpoint->config_path().empty()) {
    return InvalidArgument(fmt::format("{}: no config.json", o.thinker_from));
  }
  OMNI_ASSIGN_OR_RETURN(s.config, LoadModelConfig(s.checkpoint->config_path()));
  for (const Checkpoint::Entry& e : s.checkpoint->tensors()) {
    if (e.info->name.ends_with(".mlp.experts.gate_up_proj")) s.layout = ExpertLayout::kFused;
  }
  return s;
}

// Writes the source's bytes of twin tensor `t` (same shape, bf16), in chunks through `buffer`.
Status CopySourceTensor(const ThinkerSource& s, const TensorSpec& t, const std::string& source_name,
                        std::vector<uint16_t>& buffer, SafetensorsWriter& writer) {
  const Checkpoint::Entry* e = s.checkpoint->Find(source_name);
  if (e == nullptr) {
    return NotFound(fmt::format("{}: tensor {} (the twin's {}) is missing", s.checkpoint->path(),
                                source_name, t.name));
  }
  if (e->info->dtype != DType::kBF16 || e->info->shape != t.shape) {
    return InvalidArgument(fmt::format("{}: tensor {}: expected bf16 {}, found {} {}",
                                       s.checkpoint->path(), source_name, fmt::join(t.shape, "x"),
                                       DTypeName(e->info->dtype), fmt::join(e->info->shape, "x")));
  }
  const SafetensorsFile& shard = *s.checkpoint->shards()[e->shard];
  const uint64_t begin = shard.data_offset() + e->info->data_begin;
  const uint64_t bytes = e->info->nbytes();
  const uint64_t chunk = buffer.size() * sizeof(uint16_t);
  for (uint64_t at = 0; at < bytes; at += chunk) {
    const uint64_t n = std::min(chunk, bytes - at);
    OMNI_RETURN_IF_ERROR(shard.file().ReadAt(begin + at, n, buffer.data()));
    OMNI_RETURN_IF_ERROR(writer.Append(buffer.data(), n));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<SynthReport> SynthesizeCheckpoint(const SynthOptions& o) {
  ModelConfig config = PresetConfig(o.preset, o.arch);
  ExpertLayout layout = o.layout;
  std::optional<ThinkerSource> source;
  if (!o.thinker_from.empty()) {
    OMNI_ASSIGN_OR_RETURN(source, OpenThinkerSource(o));
    OMNI_ASSIGN_OR_RETURN(config,
                          TwinConfig(config, source->config, source->checkpoint->config_path()));
    layout = source->layout;
  }
  const std::vector<TensorSpec> tensors = ModelTensors(config, layout);
  const int n_shards = o.num_shards > 0 ? o.num_shards : DefaultShards(o.preset);
  const auto shards = PlanShards(tensors, n_shards);

  OMNI_RETURN_IF_ERROR(CreateDirectories(o.out_dir));
  OMNI_RETURN_IF_ERROR(
      WriteFileAtomically(o.out_dir + "/config.json", ModelConfigToJson(config).dump(2) + "\n"));
  OMNI_RETURN_IF_ERROR(WritePresetTokenizer(o.tokenizer_dir, o.preset, o.arch, o.out_dir));
  if (source) {
    OMNI_RETURN_IF_ERROR(
        CheckTwinTokenizer(o.thinker_from + "/tokenizer.json", o.out_dir + "/tokenizer.json"));
  }
  if (config.arch == Arch::kQwen3OmniMoe) {
    OMNI_RETURN_IF_ERROR(WriteFileAtomically(o.out_dir + "/preprocessor_config.json",
                                             PreprocessorConfig(config).dump(2) + "\n"));
  }

  SynthReport report;
  report.shards = static_cast<int>(shards.size());
  for (const TensorSpec& t : tensors) {
    report.tensors++;
    report.parameters += t.numel();
    report.bytes += t.nbytes();
  }

  std::map<std::string, std::string> weight_map;  // sorted by name, as transformers writes
  std::optional<ProgressBar> bar;
  if (o.progress) bar.emplace(fmt::format("synth {}", PresetName(o.preset)), report.bytes);
  std::vector<uint16_t> chunk(1 << 20);
  uint64_t done = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file_name =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::vector<TensorDecl> decls;
    for (const TensorSpec* t : shards[s]) {
      decls.push_back({t->name, t->dtype, t->shape});
      weight_map[t->name] = file_name;
    }
    OMNI_ASSIGN_OR_RETURN(auto writer,
                          SafetensorsWriter::Create(o.out_dir + "/" + file_name, std::move(decls)));
    for (const TensorSpec* t : shards[s]) {
      if (o.sparse) {
        OMNI_RETURN_IF_ERROR(writer->Skip(t->nbytes()));
        done += t->nbytes();
        continue;
      }
      if (const std::string from = source ? TwinSourceName(t->name) : ""; !from.empty()) {
        OMNI_RETURN_IF_ERROR(CopySourceTensor(*source, *t, from, chunk, *writer));
        done += t->nbytes();
        if (bar) bar->Update(done);
        continue;
      }
      for (const TensorSpec& part : DataParts(*t)) {
        const uint64_t n = part.numel();
        for (uint64_t first = 0; first < n; first += chunk.size()) {
          const uint64_t count = std::min<uint64_t>(chunk.size(), n - first);
          GenerateBf16(part, o.seed, first, count, chunk.data());
          OMNI_RETURN_IF_ERROR(writer->Append(chunk.data(), count * sizeof(uint16_t)));
          done += count * sizeof(uint16_t);
          if (bar) bar->Update(done);
        }
      }
    }
    OMNI_RETURN_IF_ERROR(writer->Finish());
    if (bar) bar->Update(done);
  }
  if (bar) bar->Finish();

  nlohmann::ordered_json index = {{"metadata", {{"total_size", report.bytes}}},
                                  {"weight_map", weight_map}};
  OMNI_RETURN_IF_ERROR(
      WriteFileAtomically(o.out_dir + "/model.safetensors.index.json", index.dump(2) + "\n"));
  return report;
}

}  // namespace omnisage

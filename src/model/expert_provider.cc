#include "model/expert_provider.h"

#include <fmt/format.h>

#include "model/weights.h"

namespace omnisage {

Status ReadExpert(const WeightSource& source, const DecoderLayerNames& names, int expert,
                  int64_t inter, int64_t hidden, uint16_t* dst, bool verify) {
  const uint64_t block = static_cast<uint64_t>(inter * hidden);
  const std::pair<ExpertProj, std::vector<int64_t>> parts[] = {
      {ExpertProj::kGate, {inter, hidden}},
      {ExpertProj::kUp, {inter, hidden}},
      {ExpertProj::kDown, {hidden, inter}}};
  WeightSource::TensorBytes read[3];
  for (int i = 0; i < 3; ++i) {
    const std::string name = names.Expert(expert, parts[i].first);
    const WeightEntry* t = source.Find(name);
    if (t == nullptr) {
      return NotFound(fmt::format("{}: expert tensor '{}' is missing", source.path(), name));
    }
    if (t->dtype != DType::kBF16 || t->shape != parts[i].second) {
      return InvalidArgument(fmt::format(
          "{}: tensor '{}': expected BF16 [{}, {}], found {} {}", source.files()[t->file], name,
          parts[i].second[0], parts[i].second[1], DTypeName(t->dtype), ShapeString(t->shape)));
    }
    OMNI_RETURN_IF_ERROR(ReadBf16(source, *t, 0, block, dst + i * block));
    read[i] = {t, dst + i * block};
  }
  // An expert store keeps each expert in a file of its own; other layouts have no per-expert
  // checksum.
  const bool own_file =
      read[0].tensor->file == read[1].tensor->file && read[0].tensor->file == read[2].tensor->file;
  if (verify && own_file) OMNI_RETURN_IF_ERROR(source.VerifyFile(read));
  return Status::Ok();
}

StatusOr<std::unique_ptr<ResidentExperts>> ResidentExperts::Load(const WeightSource& source,
                                                                 const std::string& stack_prefix,
                                                                 const DecoderConfig& c,
                                                                 bool verify) {
  auto r = std::make_unique<ResidentExperts>();
  r->inter_ = c.moe_intermediate_size;
  r->hidden_ = c.hidden_size;
  r->experts_ = c.num_experts;
  r->layers_.resize(c.num_layers);
  const uint64_t per_expert = 3 * static_cast<uint64_t>(r->inter_ * r->hidden_);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (!c.IsMoeLayer(l)) continue;
    const DecoderLayerNames names = LayerNames(stack_prefix, l);
    std::vector<uint16_t>& buf = r->layers_[l];
    buf.resize(per_expert * c.num_experts);
    r->charges_.emplace_back(MemoryKind::kExpertCache, buf.size() * sizeof(uint16_t));
    for (int64_t e = 0; e < c.num_experts; ++e) {
      Status s = ReadExpert(source, names, static_cast<int>(e), r->inter_, r->hidden_,
                            buf.data() + e * per_expert, verify);
      if (!s.ok()) {
        return Status(s.code(), fmt::format("layer {} expert {}: {}", l, e, s.message()));
      }
    }
  }
  return r;
}

StatusOr<ExpertWeights> ResidentExperts::Acquire(int layer, int expert) {
  if (layer < 0 || layer >= static_cast<int>(layers_.size()) || layers_[layer].empty() ||
      expert < 0 || expert >= experts_) {
    return Internal(fmt::format("no expert {} in layer {}", expert, layer));
  }
  const uint64_t block = static_cast<uint64_t>(inter_ * hidden_);
  const uint16_t* base = layers_[layer].data() + 3 * block * expert;
  return ExpertWeights{base, base + block, base + 2 * block};
}

}  // namespace omnisage

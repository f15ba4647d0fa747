#include "model/expert_provider.h"

#include <fmt/format.h>

#include "model/weights.h"

namespace omnisage {

namespace {

uint64_t Align64(uint64_t n) { return (n + 63) / 64 * 64; }

// One tensor an expert needs: its name, the dtype and shape it must have, where it goes.
struct ExpertPart {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t at;  // offset in the expert's buffer
};

// The parts of one projection [out, in] stored at `at` in the format of `c`.
void AddProjParts(const DecoderConfig& c, const std::string& name, int64_t out, int64_t in,
                  uint64_t at, std::vector<ExpertPart>* parts) {
  const WeightFormat f = c.expert_format;
  if (f == WeightFormat::kBf16) {
    parts->push_back({name, DType::kBF16, {out, in}, at});
    return;
  }
  const QuantLayout l = LayoutOf(f, out, in, c.expert_group);
  if (f == WeightFormat::kInt8) {
    parts->push_back({name, DType::kI8, {out, in}, at + l.q_offset});
    parts->push_back({QuantScaleName(name), DType::kF32, {out}, at + l.scale_offset});
    return;
  }
  const int64_t groups = in / c.expert_group;
  parts->push_back({name, DType::kU8, {out, in / 2}, at + l.q_offset});
  parts->push_back({QuantScaleName(name), DType::kF32, {out, groups}, at + l.scale_offset});
  parts->push_back({QuantZeroName(name), DType::kU8, {out, groups}, at + l.zero_offset});
}

}  // namespace

ExpertBuffer ExpertBufferOf(const DecoderConfig& c) {
  const int64_t inter = c.moe_intermediate_size, hidden = c.hidden_size;
  ExpertBuffer l;
  if (c.expert_format == WeightFormat::kBf16) {
    const uint64_t block = 2 * static_cast<uint64_t>(inter * hidden);
    l.up_at = block;
    l.down_at = 2 * block;
    l.total = 3 * block;
    return l;
  }
  const uint64_t proj = Align64(LayoutOf(c.expert_format, inter, hidden, c.expert_group).total());
  l.up_at = proj;
  l.down_at = 2 * proj;
  l.total = l.down_at + Align64(LayoutOf(c.expert_format, hidden, inter, c.expert_group).total());
  return l;
}

ExpertWeights ExpertWeightsAt(const DecoderConfig& c, const uint8_t* base) {
  const ExpertBuffer l = ExpertBufferOf(c);
  const int64_t inter = c.moe_intermediate_size, hidden = c.hidden_size;
  const WeightFormat f = c.expert_format;
  const int64_t g = c.expert_group;
  return {QuantMatrix::Of(f, inter, hidden, g, base + l.gate_at),
          QuantMatrix::Of(f, inter, hidden, g, base + l.up_at),
          QuantMatrix::Of(f, hidden, inter, g, base + l.down_at)};
}

Status DetectWeightFormat(const WeightSource& source, const std::string& stack_prefix,
                          DecoderConfig* c) {
  const WeightEntry* q =
      c->num_layers > 0 ? source.Find(LayerNames(stack_prefix, 0).q_proj) : nullptr;
  c->dense_format =
      q != nullptr && q->dtype == DType::kI8 ? WeightFormat::kInt8 : WeightFormat::kBf16;
  c->expert_format = WeightFormat::kBf16;
  c->expert_group = 0;
  int64_t layer = 0;
  while (layer < c->num_layers && !c->IsMoeLayer(layer)) ++layer;
  if (layer >= c->num_layers) return Status::Ok();
  const std::string name = LayerNames(stack_prefix, layer).Expert(0, ExpertProj::kGate);
  const WeightEntry* w = source.Find(name);
  if (w == nullptr || w->dtype == DType::kBF16) return Status::Ok();
  if (w->dtype != DType::kI8 && w->dtype != DType::kU8) return Status::Ok();  // named on read
  const std::string scale_name = QuantScaleName(name);
  const WeightEntry* s = source.Find(scale_name);
  const std::string where = source.files()[w->file];
  if (s == nullptr) {
    return InvalidArgument(
        fmt::format("{}: tensor '{}' is {} (quantized) but its scales '{}' are missing", where,
                    name, DTypeName(w->dtype), scale_name));
  }
  if (w->dtype == DType::kI8) {
    c->expert_format = WeightFormat::kInt8;
    return Status::Ok();  // shapes are checked as each expert is read
  }
  if (s->shape.size() != 2 || s->shape[1] <= 0 || c->hidden_size % s->shape[1] != 0) {
    return InvalidArgument(fmt::format(
        "{}: tensor '{}': int4 scales of shape {} do not split a row of {} values into groups",
        source.files()[s->file], scale_name, ShapeString(s->shape), c->hidden_size));
  }
  const int64_t group = c->hidden_size / s->shape[1];
  OMNI_RETURN_IF_ERROR(CheckQuantShape(WeightFormat::kInt4, c->moe_intermediate_size,
                                       c->hidden_size, group,
                                       fmt::format("{}: '{}'", where, name)));
  OMNI_RETURN_IF_ERROR(
      CheckQuantShape(WeightFormat::kInt4, c->hidden_size, c->moe_intermediate_size, group,
                      fmt::format("{}: '{}'", where,
                                  LayerNames(stack_prefix, layer).Expert(0, ExpertProj::kDown))));
  c->expert_format = WeightFormat::kInt4;
  c->expert_group = group;
  return Status::Ok();
}

Status DetectWeightFormats(const WeightSource& source, ModelConfig* config) {
  const Component text = config->arch == Arch::kQwen3Moe ? Component::kText : Component::kThinker;
  OMNI_RETURN_IF_ERROR(DetectWeightFormat(source, StackNames(*config, text).prefix, &config->text));
  if (config->has_talker) {
    OMNI_RETURN_IF_ERROR(DetectWeightFormat(source, StackNames(*config, Component::kTalker).prefix,
                                            &config->talker.text));
    OMNI_RETURN_IF_ERROR(DetectWeightFormat(source, std::string(kCodePredictorStackPrefix),
                                            &config->talker.code_predictor));
  }
  return Status::Ok();
}

Status ReadExpert(const WeightSource& source, const DecoderLayerNames& names, int expert,
                  const DecoderConfig& c, uint8_t* dst, bool verify) {
  const int64_t inter = c.moe_intermediate_size, hidden = c.hidden_size;
  const ExpertBuffer l = ExpertBufferOf(c);
  std::vector<ExpertPart> parts;
  AddProjParts(c, names.Expert(expert, ExpertProj::kGate), inter, hidden, l.gate_at, &parts);
  AddProjParts(c, names.Expert(expert, ExpertProj::kUp), inter, hidden, l.up_at, &parts);
  AddProjParts(c, names.Expert(expert, ExpertProj::kDown), hidden, inter, l.down_at, &parts);
  std::vector<WeightSource::TensorBytes> read;
  bool own_file = true;
  for (const ExpertPart& p : parts) {
    const WeightEntry* t = source.Find(p.name);
    if (t == nullptr) {
      return NotFound(fmt::format("{}: expert tensor '{}' is missing", source.path(), p.name));
    }
    if (t->dtype != p.dtype || t->shape != p.shape) {
      return InvalidArgument(fmt::format(
          "{}: tensor '{}': expected {} {}, found {} {}{}", source.files()[t->file], p.name,
          DTypeName(p.dtype), ShapeString(p.shape), DTypeName(t->dtype), ShapeString(t->shape),
          c.expert_format == WeightFormat::kBf16
              ? ""
              : fmt::format(" (the store's experts are {})", WeightFormatName(c.expert_format))));
    }
    if (p.dtype == DType::kBF16) {
      OMNI_RETURN_IF_ERROR(
          ReadBf16(source, *t, 0, t->numel, reinterpret_cast<uint16_t*>(dst + p.at)));
    } else {
      OMNI_RETURN_IF_ERROR(source.Read(*t, 0, t->nbytes, dst + p.at));
    }
    if (!read.empty() && read.front().tensor->file != t->file) own_file = false;
    read.push_back({t, dst + p.at});
  }
  // An expert store keeps each expert in a file of its own; other layouts have no per-expert
  // checksum.
  if (verify && own_file) OMNI_RETURN_IF_ERROR(source.VerifyFile(read));
  return Status::Ok();
}

StatusOr<std::unique_ptr<ResidentExperts>> ResidentExperts::Load(const WeightSource& source,
                                                                 const std::string& stack_prefix,
                                                                 const DecoderConfig& c,
                                                                 bool verify) {
  auto r = std::make_unique<ResidentExperts>();
  r->config_ = c;
  r->experts_ = c.num_experts;
  r->expert_bytes_ = ExpertBufferOf(c).total;
  r->layers_.resize(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (!c.IsMoeLayer(l)) continue;
    const DecoderLayerNames names = LayerNames(stack_prefix, l);
    std::vector<uint8_t>& buf = r->layers_[l];
    buf.resize(r->expert_bytes_ * c.num_experts);
    r->charges_.emplace_back(MemoryKind::kExpertCache, buf.size());
    for (int64_t e = 0; e < c.num_experts; ++e) {
      Status s = ReadExpert(source, names, static_cast<int>(e), c,
                            buf.data() + e * r->expert_bytes_, verify);
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
  return ExpertWeightsAt(config_, layers_[layer].data() + expert_bytes_ * expert);
}

}  // namespace omnisage

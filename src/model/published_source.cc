#include "model/published_source.h"

#include <fmt/format.h>

#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "io/packed_quant.h"
#include "model/published_quant.h"
#include "model/tensor_table.h"
#include "ops/quant.h"
#include "tensor/bf16.h"

namespace omnisage {
namespace {

// The tensor-name suffixes of a packed module, by packer.
const std::vector<std::string>& PackedSuffixes(QuantMethod m) {
  static const std::vector<std::string> kGptqAwq = {".qweight", ".qzeros", ".scales", ".g_idx"};
  static const std::vector<std::string> kCt = {
      ".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_shape", ".weight_g_idx"};
  return m == QuantMethod::kCompressedTensors ? kCt : kGptqAwq;
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// One quantized module as the engine sees it.
struct Module {
  std::string name;
  QuantScheme scheme;
  bool int4 = false;  // an int4 expert, else a bf16 weight
  int64_t out = 0, in = 0;
  int file = 0;  // of its packed tensor
};

// Which part of its module's converted bytes a listed tensor is.
struct Part {
  size_t module = 0;
  uint64_t offset = 0;  // in the converted buffer
};

class PublishedSource final : public WeightSource {
 public:
  PublishedSource(std::unique_ptr<WeightSource> inner, QuantConfig config)
      : inner_(std::move(inner)), config_(std::move(config)) {}

  Status Init() {
    const std::string main_suffix =
        config_.method == QuantMethod::kCompressedTensors ? ".weight_packed" : ".qweight";
    std::set<std::string> hidden;
    for (const WeightEntry& t : inner_->tensors()) {
      if (!EndsWith(t.name, main_suffix)) continue;
      Module m;
      m.name = t.name.substr(0, t.name.size() - main_suffix.size());
      const std::optional<QuantScheme> scheme = SchemeFor(config_, m.name);
      if (!scheme) {
        return InvalidArgument(
            fmt::format("{}: tensor '{}' is packed, but the quantization_config leaves module '{}' "
                        "unquantized",
                        inner_->files()[t.file], t.name, m.name));
      }
      m.scheme = *scheme;
      OMNI_RETURN_IF_ERROR(Dimensions(t, &m));
      const TensorKind kind = ClassifyTensor(m.name + ".weight");
      m.int4 = kind.role == TensorRole::kExpert && !kind.fused() && Int4Compatible(m.scheme) &&
               m.in % m.scheme.group_size == 0;
      m.file = t.file;
      for (const std::string& suffix : PackedSuffixes(config_.method)) {
        hidden.insert(m.name + suffix);
      }
      modules_.push_back(std::move(m));
    }
    // The engine holds one format for all the routed experts of a stack: a stack any of whose
    // expert projections is not int4 (another scheme, or stored unpacked) reads them all as bf16.
    std::set<Component> bf16_experts;
    for (const Module& m : modules_) {
      const TensorKind kind = ClassifyTensor(m.name + ".weight");
      if (kind.role == TensorRole::kExpert && !m.int4) bf16_experts.insert(kind.component);
    }
    for (const WeightEntry& t : inner_->tensors()) {
      const TensorKind kind = ClassifyTensor(t.name);
      if (kind.role == TensorRole::kExpert && hidden.count(t.name) == 0) {
        bf16_experts.insert(kind.component);
      }
    }
    for (size_t index = 0; index < modules_.size(); ++index) {
      Module& m = modules_[index];
      if (bf16_experts.count(ClassifyTensor(m.name + ".weight").component) > 0) m.int4 = false;
      const WeightEntry base{.dtype = DType::kBF16, .file = m.file};
      if (m.int4) {
        const int64_t group = m.scheme.group_size;
        const QuantLayout l = LayoutOf(WeightFormat::kInt4, m.out, m.in, group);
        Add(base, m.name + ".weight", DType::kU8, {m.out, m.in / 2}, {index, l.q_offset});
        Add(base, QuantScaleName(m.name + ".weight"), DType::kF32, {m.out, m.in / group},
            {index, l.scale_offset});
        Add(base, QuantZeroName(m.name + ".weight"), DType::kU8, {m.out, m.in / group},
            {index, l.zero_offset});
      } else {
        Add(base, m.name + ".weight", DType::kBF16, {m.out, m.in}, {index, 0});
      }
    }
    for (const WeightEntry& t : inner_->tensors()) {
      if (hidden.count(t.name) > 0) continue;
      if (parts_.count(t.name) > 0) {
        return InvalidArgument(fmt::format(
            "{}: tensor '{}' is in the checkpoint beside the packed module it would be read from",
            inner_->files()[t.file], t.name));
      }
      entries_.push_back(t);
    }
    BuildIndex();
    return Status::Ok();
  }

  std::string_view kind() const override { return inner_->kind(); }
  const std::string& path() const override { return inner_->path(); }
  const std::string& config_path() const override { return inner_->config_path(); }
  const std::vector<std::string>& files() const override { return inner_->files(); }

  Status Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const override {
    auto it = parts_.find(t.name);
    if (it == parts_.end()) return inner_->Read(t, offset, n, dst);
    if (offset > t.nbytes || n > t.nbytes - offset) {
      return OutOfRange(t.name + ": read past the end of the tensor");
    }
    OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<uint8_t>> bytes,
                          Converted(it->second.module));
    std::memcpy(dst, bytes->data() + it->second.offset + offset, n);
    return Status::Ok();
  }

  Status VerifyFile(std::span<const TensorBytes> parts) const override { return Status::Ok(); }

 private:
  // [out, in] from the packed tensor's header (the data is checked when the module is read).
  Status Dimensions(const WeightEntry& t, Module* m) const {
    const std::string where = fmt::format("{}: tensor '{}'", inner_->files()[t.file], t.name);
    if (t.shape.size() != 2 || t.shape[0] <= 0 || t.shape[1] <= 0) {
      return InvalidArgument(
          fmt::format("{} has shape {}, not a packed 2-D weight", where, ShapeString(t.shape)));
    }
    const int64_t per_word = 32 / m->scheme.bits;
    switch (config_.method) {
      case QuantMethod::kCompressedTensors:
        m->out = t.shape[0];
        m->in = t.shape[1] * per_word;
        break;
      case QuantMethod::kAwq:
        m->in = t.shape[0];
        m->out = t.shape[1] * 8;
        break;
      case QuantMethod::kGptq:
        m->in = t.shape[0] * per_word;
        m->out = t.shape[1];
        break;
    }
    return Status::Ok();
  }

  void Add(const WeightEntry& base, std::string name, DType dtype, std::vector<int64_t> shape,
           Part part) {
    WeightEntry e = base;
    e.name = std::move(name);
    e.dtype = dtype;
    e.shape = std::move(shape);
    e.numel = static_cast<uint64_t>(e.shape[0] * e.shape[1]);
    e.nbytes = e.numel * DTypeSize(dtype);
    parts_[e.name] = part;
    entries_.push_back(std::move(e));
  }

  // Module `index` unpacked and converted (int4 buffer or bf16 weight), from a small cache.
  StatusOr<std::shared_ptr<const std::vector<uint8_t>>> Converted(size_t index) const {
    {
      std::lock_guard lock(mu_);
      for (auto it = cache_.begin(); it != cache_.end(); ++it) {
        if (it->first == index) {
          cache_.splice(cache_.begin(), cache_, it);
          return it->second;
        }
      }
    }
    const Module& m = modules_[index];
    OMNI_ASSIGN_OR_RETURN(const UnpackedWeight w, UnpackModule(*inner_, config_, m.name, m.scheme));
    if (w.out != m.out || w.in != m.in) {
      return InvalidArgument(
          fmt::format("{}: module '{}' is [{}, {}], but its packed tensor says "
                      "[{}, {}]",
                      inner_->path(), m.name, w.out, w.in, m.out, m.in));
    }
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    if (m.int4) {
      const std::string obstacle = Int4Obstacle(w);
      if (!obstacle.empty()) {
        return InvalidArgument(fmt::format("{}: module '{}' cannot be held as int4: {}",
                                           inner_->path(), m.name, obstacle));
      }
      *bytes = ToEngineInt4(w);
    } else {
      const std::vector<float> f = Dequantize(w);
      bytes->resize(f.size() * 2);
      uint16_t* out = reinterpret_cast<uint16_t*>(bytes->data());
      for (size_t i = 0; i < f.size(); ++i) out[i] = FloatToBf16(f[i]);
    }
    std::lock_guard lock(mu_);
    cache_.emplace_front(index, bytes);
    if (cache_.size() > kCached) cache_.pop_back();
    return std::shared_ptr<const std::vector<uint8_t>>(bytes);
  }

  static constexpr size_t kCached = 8;
  std::unique_ptr<WeightSource> inner_;
  QuantConfig config_;
  std::vector<Module> modules_;
  std::unordered_map<std::string, Part> parts_;
  mutable std::mutex mu_;
  mutable std::list<std::pair<size_t, std::shared_ptr<const std::vector<uint8_t>>>> cache_;
};

}  // namespace

StatusOr<std::unique_ptr<WeightSource>> WrapPublishedQuant(std::unique_ptr<WeightSource> inner) {
  if (inner->config_path().empty()) return inner;
  OMNI_ASSIGN_OR_RETURN(std::optional<QuantConfig> config, LoadQuantConfig(inner->config_path()));
  if (!config) return inner;
  auto source = std::make_unique<PublishedSource>(std::move(inner), std::move(*config));
  OMNI_RETURN_IF_ERROR(source->Init());
  return std::unique_ptr<WeightSource>(std::move(source));
}

}  // namespace omnisage

#include "io/weight_source.h"

#include "io/checkpoint.h"

namespace omnisage {

const WeightEntry* WeightSource::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void WeightSource::BuildIndex() {
  index_.clear();
  index_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
}

namespace {

class CheckpointSource final : public WeightSource {
 public:
  explicit CheckpointSource(std::unique_ptr<Checkpoint> ckpt) : ckpt_(std::move(ckpt)) {
    for (const auto& shard : ckpt_->shards()) files_.push_back(shard->name());
    for (const Checkpoint::Entry& e : ckpt_->tensors()) {
      const TensorInfo& t = *e.info;
      entries_.push_back({.name = t.name,
                          .dtype = t.dtype,
                          .shape = t.shape,
                          .numel = t.numel,
                          .nbytes = t.nbytes(),
                          .file = e.shard,
                          .offset = ckpt_->shards()[e.shard]->data_offset() + t.data_begin});
    }
    BuildIndex();
  }

  std::string_view kind() const override { return "checkpoint"; }
  const std::string& path() const override { return ckpt_->path(); }
  const std::string& config_path() const override { return ckpt_->config_path(); }
  const std::vector<std::string>& files() const override { return files_; }

  Status Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const override {
    if (offset > t.nbytes || n > t.nbytes - offset) {
      return OutOfRange(t.name + ": read past the end of the tensor");
    }
    return ckpt_->shards()[t.file]->file().ReadAt(t.offset + offset, n, dst);
  }

 private:
  std::unique_ptr<Checkpoint> ckpt_;
  std::vector<std::string> files_;
};

}  // namespace

StatusOr<std::unique_ptr<WeightSource>> OpenCheckpointSource(const std::string& path,
                                                             FileSystem* fs, ReadMode mode) {
  if (mode == ReadMode::kMmap) mode = ReadMode::kPread;  // a WeightSource never maps
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(path, mode, fs));
  return std::unique_ptr<WeightSource>(new CheckpointSource(std::move(ckpt)));
}

}  // namespace omnisage

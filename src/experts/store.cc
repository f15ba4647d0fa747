#include "experts/store.h"

#include <fmt/format.h>

#include "io/file.h"

namespace omnisage {

bool IsExpertStore(const std::string& path) {
  return IsDirectory(path) && FileExists(path + "/" + std::string(kManifestFileName));
}

StatusOr<std::unique_ptr<ExpertStore>> ExpertStore::Open(const std::string& dir, FileSystem* fs) {
  std::unique_ptr<ExpertStore> store(new ExpertStore());
  store->dir_ = dir;
  store->fs_ = fs != nullptr ? fs : FileSystem::Default();
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(manifest_path));
  OMNI_ASSIGN_OR_RETURN(store->manifest_, ParseManifest(text, manifest_path));
  if (FileExists(dir + "/config.json")) store->config_path_ = dir + "/config.json";
  for (const StoreFile& f : store->manifest_.files) {
    if (f.kind == StoreFileKind::kExtra) continue;
    const int index = static_cast<int>(store->paths_.size());
    store->paths_.push_back(dir + "/" + f.path);
    for (const StoreTensor& t : f.tensors) {
      store->entries_.push_back({.name = t.name,
                                 .dtype = t.dtype,
                                 .shape = t.shape,
                                 .numel = t.bytes / DTypeSize(t.dtype),
                                 .nbytes = t.bytes,
                                 .file = index,
                                 .offset = t.offset});
    }
  }
  store->open_.resize(store->paths_.size());
  // One descriptor per data file once read, plus headroom for the rest of the process.
  EnsureOpenFileLimit(store->paths_.size() + 256);
  store->BuildIndex();
  if (store->tensors().size() != store->entries_.size()) {
    return InvalidArgument(fmt::format("{}: a tensor name appears twice", manifest_path));
  }
  return store;
}

StatusOr<const File*> ExpertStore::GetFile(int index) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_[index]) {
    OMNI_ASSIGN_OR_RETURN(open_[index], fs_->OpenFile(paths_[index], ReadMode::kPread));
  }
  return open_[index].get();
}

Status ExpertStore::Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const {
  if (offset > t.nbytes || n > t.nbytes - offset) {
    return OutOfRange(t.name + ": read past the end of the tensor");
  }
  OMNI_ASSIGN_OR_RETURN(const File* file, GetFile(t.file));
  return file->ReadAt(t.offset + offset, n, dst);
}

StatusOr<std::unique_ptr<WeightSource>> OpenWeightSource(const std::string& path, FileSystem* fs) {
  if (IsExpertStore(path)) {
    OMNI_ASSIGN_OR_RETURN(std::unique_ptr<ExpertStore> store, ExpertStore::Open(path, fs));
    return std::unique_ptr<WeightSource>(std::move(store));
  }
  return OpenCheckpointSource(path, fs);
}

}  // namespace omnisage

#include "experts/store.h"

#include <fmt/format.h>

#include <algorithm>

#include "experts/extract.h"
#include "io/file.h"
#include "util/checksum.h"
#include "util/json_fields.h"

namespace omnisage {
namespace {

// config.json is what the engine reads; the manifest's copy is what extract found. They must be
// the same model.
Status CheckConfigAgrees(const std::string& config_path, const std::string& manifest_path,
                         const nlohmann::json& recorded) {
  if (recorded.is_null()) return Status::Ok();  // a store of a checkpoint without config.json
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path));
  OMNI_ASSIGN_OR_RETURN(nlohmann::json config, ParseJson(text, config_path));
  if (auto diff = FirstDifference(config, recorded)) {
    return InvalidArgument(fmt::format(
        "{} disagrees with the config recorded in {}: {}; the store was edited or mixed with "
        "another model's files (re-run extract to rebuild it)",
        config_path, manifest_path, *diff));
  }
  return Status::Ok();
}

}  // namespace

bool IsExpertStore(const std::string& path) {
  return IsDirectory(path) && FileExists(path + "/" + std::string(kManifestFileName));
}

StatusOr<std::unique_ptr<ExpertStore>> ExpertStore::Open(const std::string& dir, FileSystem* fs,
                                                         ReadMode mode) {
  std::unique_ptr<ExpertStore> store(new ExpertStore());
  store->dir_ = dir;
  store->read_mode_ = mode == ReadMode::kMmap ? ReadMode::kPread : mode;
  store->fs_ = fs != nullptr ? fs : FileSystem::Default();
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(manifest_path));
  OMNI_ASSIGN_OR_RETURN(store->manifest_, ParseManifest(text, manifest_path));
  if (FileExists(dir + "/config.json")) {
    store->config_path_ = dir + "/config.json";
    OMNI_RETURN_IF_ERROR(
        CheckConfigAgrees(store->config_path_, manifest_path, store->manifest_.config));
  }
  for (const StoreFile& f : store->manifest_.files) {
    if (f.kind == StoreFileKind::kExtra) continue;
    if (auto problem = TilingProblem(f)) {
      return InvalidArgument(fmt::format(
          "{}: the record of {} is inconsistent: {}; the manifest was edited or is corrupt "
          "(run omnisage verify; re-run extract to rebuild the store)",
          manifest_path, f.path, *problem));
    }
    const int index = static_cast<int>(store->paths_.size());
    store->paths_.push_back(dir + "/" + f.path);
    store->records_.push_back(&f);
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
  store->header_checked_.resize(store->paths_.size());
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
    OMNI_ASSIGN_OR_RETURN(open_[index], fs_->OpenFile(paths_[index], read_mode_));
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

Status ExpertStore::VerifyFile(std::span<const TensorBytes> parts) const {
  if (parts.empty()) return Status::Ok();
  const int index = parts[0].tensor->file;
  const StoreFile& record = *records_[index];
  const std::string& path = paths_[index];
  std::vector<TensorBytes> sorted(parts.begin(), parts.end());
  std::sort(sorted.begin(), sorted.end(), [](const TensorBytes& a, const TensorBytes& b) {
    return a.tensor->offset < b.tensor->offset;
  });
  for (size_t i = 0; i < sorted.size(); ++i) {
    // Open checked that the manifest's tensors lie end to end; so do these if they are all of
    // them, and then header + tensors hash to the file's checksum.
    if (sorted[i].tensor->file != index || sorted.size() != record.tensors.size() ||
        (i > 0 && sorted[i].tensor == sorted[i - 1].tensor)) {
      return Internal(fmt::format("{}: VerifyFile needs every tensor of the file once", path));
    }
  }
  const uint64_t header_end = sorted[0].tensor->offset;  // 8 + the header's length
  OMNI_ASSIGN_OR_RETURN(const File* file, GetFile(index));
  std::string header(header_end, '\0');
  OMNI_RETURN_IF_ERROR(file->ReadAt(0, header.size(), header.data()));
  Xxh3Stream hash;
  hash.Update(header.data(), header.size());
  for (const TensorBytes& p : sorted) hash.Update(p.data, p.tensor->nbytes);
  const uint64_t actual = hash.Digest();
  if (actual != record.xxh3) {
    return InvalidArgument(fmt::format(
        "{}: checksum mismatch: XXH3 {} in {}, {} computed from the bytes read; the store is "
        "corrupt (omnisage verify lists every bad file; re-run extract to repair it)",
        path, ChecksumHex(record.xxh3), kManifestFileName, ChecksumHex(actual)));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (header_checked_[index]) return Status::Ok();
  }
  // The checksum covers the header, so one comparison with the manifest holds for every read.
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= static_cast<uint64_t>(static_cast<uint8_t>(header[i])) << (8 * i);
  std::optional<std::string> problem;
  if (length != header_end - 8) {
    problem = fmt::format("header of {} bytes, but the manifest puts the first tensor at offset {}",
                          length, header_end);
  } else {
    auto parsed = ParseSafetensorsHeader(std::string_view(header).substr(8),
                                         record.bytes - header_end, "header");
    problem = parsed.ok() ? HeaderProblem(*parsed, header_end, record) : parsed.status().message();
  }
  if (problem) {
    return InvalidArgument(fmt::format(
        "{}: disagrees with {}: {}; the manifest was edited or is corrupt (run omnisage verify; "
        "re-run extract to rebuild the store)",
        path, kManifestFileName, *problem));
  }
  std::lock_guard<std::mutex> lock(mu_);
  header_checked_[index] = 1;
  return Status::Ok();
}

bool IsIncompleteExpertStore(const std::string& path) {
  if (!IsDirectory(path) || FileExists(path + "/" + std::string(kManifestFileName))) return false;
  return FileExists(path + "/" + std::string(kJournalFileName)) ||
         FileExists(path + "/" + std::string(kLockFileName)) || IsDirectory(path + "/dense") ||
         IsDirectory(path + "/experts");
}

StatusOr<std::unique_ptr<WeightSource>> OpenWeightSource(const std::string& path, FileSystem* fs,
                                                         ReadMode mode) {
  if (IsExpertStore(path)) {
    OMNI_ASSIGN_OR_RETURN(std::unique_ptr<ExpertStore> store, ExpertStore::Open(path, fs, mode));
    return std::unique_ptr<WeightSource>(std::move(store));
  }
  if (IsIncompleteExpertStore(path)) {
    return NotFound(fmt::format(
        "{}: an expert store without {}: its extraction did not finish (killed or stopped by an "
        "error); run the same omnisage extract command again to resume it",
        path, kManifestFileName));
  }
  return OpenCheckpointSource(path, fs, mode);
}

}  // namespace omnisage

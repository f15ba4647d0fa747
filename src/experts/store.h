// ExpertStore: an extracted store opened as a WeightSource (see manifest.h for the layout).
//
// Open() reads manifest.json (and config.json) only; files are opened on first read (pread, never
// mapped), so opening a store of thousands of expert files is cheap and reading one expert
// touches one file. Open checks what it can without reading data: the manifest's tensors of each
// file lie end to end after its header, as extract writes them, and config.json agrees with the
// config the manifest recorded. VerifyFile checks the bytes of a file as they are read against
// the manifest's XXH3, and the file's header against the manifest the first time it is checked.
// Thread-safe after Open.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "experts/manifest.h"
#include "io/file_system.h"
#include "io/weight_source.h"

namespace omnisage {

class ExpertStore final : public WeightSource {
 public:
  // `mode`: how its data files are read (io/file.h; kMmap reads as kPread).
  static StatusOr<std::unique_ptr<ExpertStore>> Open(const std::string& dir,
                                                     FileSystem* fs = nullptr,
                                                     ReadMode mode = ReadMode::kPread);

  std::string_view kind() const override { return "expert store"; }
  const std::string& path() const override { return dir_; }
  const std::string& config_path() const override { return config_path_; }
  const std::vector<std::string>& files() const override { return paths_; }
  Status Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const override;
  Status VerifyFile(std::span<const TensorBytes> parts) const override;

  const Manifest& manifest() const { return manifest_; }

 private:
  ExpertStore() = default;
  StatusOr<const File*> GetFile(int index) const;

  std::string dir_;
  std::string config_path_;
  FileSystem* fs_ = nullptr;
  ReadMode read_mode_ = ReadMode::kPread;
  Manifest manifest_;
  std::vector<std::string> paths_;         // absolute paths of the data files
  std::vector<const StoreFile*> records_;  // their manifest records, as paths_
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<File>> open_;  // guarded by mu_ while opening
  mutable std::vector<uint8_t> header_checked_;      // as paths_; guarded by mu_
};

// True when `path` is a directory holding manifest.json.
bool IsExpertStore(const std::string& path);

// True when `path` is a directory an extraction started writing and did not finish: no
// manifest.json, but the journal, the lock file or the store's dense/ or experts/ folders.
bool IsIncompleteExpertStore(const std::string& path);

// Opens `path` as an expert store when it is one, else as an original checkpoint. A store whose
// extraction did not finish is an error that says so and how to resume. `mode`: how every data
// file is read (io/file.h): the engine's --io.
StatusOr<std::unique_ptr<WeightSource>> OpenWeightSource(const std::string& path,
                                                         FileSystem* fs = nullptr,
                                                         ReadMode mode = ReadMode::kPread);

}  // namespace omnisage

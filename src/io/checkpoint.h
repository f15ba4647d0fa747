// A Hugging Face checkpoint on disk: one .safetensors file, a directory with model.safetensors,
// or a sharded directory with model.safetensors.index.json; plus config.json when present.
//
// Open() reads and validates every shard header and cross-checks the index: each shard it names
// must exist, each tensor it names must be in that shard, and no tensor may appear in two shards.
// Tensor data is not read. Immutable after Open; safe to read from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/file_system.h"
#include "io/safetensors.h"
#include "util/status.h"

namespace omnisage {

inline constexpr std::string_view kIndexFileName = "model.safetensors.index.json";
inline constexpr std::string_view kConfigFileName = "config.json";

class Checkpoint {
 public:
  struct Entry {
    int shard;               // index into shards()
    const TensorInfo* info;  // owned by the shard
  };

  // `path`: a directory or a .safetensors file.
  // Shards are opened through `fs` (nullptr: the POSIX file system).
  static StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& path,
                                                    ReadMode mode = ReadMode::kPread,
                                                    FileSystem* fs = nullptr);

  const std::string& path() const { return path_; }
  // Path of config.json, or empty when the checkpoint has none.
  const std::string& config_path() const { return config_path_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }
  // Every tensor, in shard order then data order.
  const std::vector<Entry>& tensors() const { return tensors_; }
  // nullptr if absent.
  const Entry* Find(std::string_view name) const;

 private:
  Checkpoint() = default;
  Status AddShard(std::unique_ptr<SafetensorsFile> shard);

  std::string path_;
  std::string config_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<Entry> tensors_;
  std::unordered_map<std::string_view, size_t> by_name_;
};

}  // namespace omnisage

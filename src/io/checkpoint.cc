#include "io/checkpoint.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "util/json_fields.h"

namespace omnisage {

namespace fs = std::filesystem;

const Checkpoint::Entry* Checkpoint::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

Status Checkpoint::AddShard(std::unique_ptr<SafetensorsFile> shard) {
  const int index = static_cast<int>(shards_.size());
  for (const TensorInfo& t : shard->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, tensors_.size());
    if (!inserted) {
      return InvalidArgument(fmt::format("{}: tensor '{}' is also in {}", shard->name(), t.name,
                                         shards_[tensors_[it->second].shard]->name()));
    }
    tensors_.push_back({index, &t});
  }
  shards_.push_back(std::move(shard));
  return Status::Ok();
}

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& path, ReadMode mode,
                                                       FileSystem* fs) {
  if (fs == nullptr) fs = FileSystem::Default();
  auto open_shard = [&](const std::string& p) -> StatusOr<std::unique_ptr<SafetensorsFile>> {
    OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->OpenFile(p, mode));
    return SafetensorsFile::Open(std::move(file));
  };
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->path_ = path;
  if (!FileExists(path)) return NotFound(fmt::format("{}: no such file or directory", path));
  const bool is_dir = IsDirectory(path);
  const std::string dir = is_dir ? path : fs::path(path).parent_path().string();
  const std::string config = (dir.empty() ? "." : dir) + "/" + std::string(kConfigFileName);
  if (FileExists(config)) ckpt->config_path_ = config;

  if (!is_dir) {
    OMNI_ASSIGN_OR_RETURN(auto shard, open_shard(path));
    OMNI_RETURN_IF_ERROR(ckpt->AddShard(std::move(shard)));
    return ckpt;
  }
  const std::string index_path = path + "/" + std::string(kIndexFileName);
  if (!FileExists(index_path)) {
    const std::string single = path + "/model.safetensors";
    if (!FileExists(single)) {
      return NotFound(
          fmt::format("{}: neither {} nor model.safetensors found", path, kIndexFileName));
    }
    OMNI_ASSIGN_OR_RETURN(auto shard, open_shard(single));
    OMNI_RETURN_IF_ERROR(ckpt->AddShard(std::move(shard)));
    return ckpt;
  }

  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  OMNI_ASSIGN_OR_RETURN(nlohmann::json index, ParseJson(text, index_path));
  JsonPath at(index_path);
  OMNI_ASSIGN_OR_RETURN(const nlohmann::json* weight_map, GetObject(index, "weight_map", at));
  // Shards in the order of their names (model-00001-of-N first).
  std::map<std::string, std::vector<std::string>> by_shard;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string()) {
      return at.Child("weight_map").Child(it.key()).Error("expected a shard file name");
    }
    const std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return at.Child("weight_map")
          .Child(it.key())
          .Error(fmt::format("shard '{}' must be a file name in the checkpoint directory", shard));
    }
    by_shard[shard].push_back(it.key());
  }
  if (by_shard.empty()) return at.Child("weight_map").Error("names no tensors");
  for (const auto& [shard_name, names] : by_shard) {
    const std::string shard_path = path + "/" + shard_name;
    if (!FileExists(shard_path)) {
      return NotFound(
          fmt::format("{}: weight_map: shard '{}' (holding '{}' and {} more) does "
                      "not exist",
                      index_path, shard_name, names.front(), names.size() - 1));
    }
    OMNI_ASSIGN_OR_RETURN(auto shard, open_shard(shard_path));
    for (const std::string& name : names) {
      if (shard->Find(name) == nullptr) {
        return NotFound(fmt::format("{}: weight_map: tensor '{}' is not in shard {}", index_path,
                                    name, shard_path));
      }
    }
    OMNI_RETURN_IF_ERROR(ckpt->AddShard(std::move(shard)));
  }
  return ckpt;
}

}  // namespace omnisage

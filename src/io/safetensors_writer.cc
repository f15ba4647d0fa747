#include "io/safetensors_writer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace omnisage {

uint64_t TensorDecl::nbytes() const {
  uint64_t n = DTypeSize(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string BuildSafetensorsHeader(const std::vector<TensorDecl>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps declaration order, so the header lists tensors in data order.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorDecl& t : tensors) {
    uint64_t end = offset + t.nbytes();
    root[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                    {"shape", t.shape},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = root.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, std::vector<TensorDecl> tensors,
    std::map<std::string, std::string> metadata, FileSystem* fs) {
  if (fs == nullptr) fs = FileSystem::Default();
  uint64_t total = 0;
  for (const TensorDecl& t : tensors) total += t.nbytes();
  std::string header = BuildSafetensorsHeader(tensors, metadata);
  OMNI_ASSIGN_OR_RETURN(TempFile file, TempFile::Create(path, fs));
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  OMNI_RETURN_IF_ERROR(file.file().Append(len, 8));
  OMNI_RETURN_IF_ERROR(file.file().Append(header));
  return std::unique_ptr<SafetensorsWriter>(new SafetensorsWriter(path, std::move(file), total));
}

Status SafetensorsWriter::CheckRoom(uint64_t n) const {
  if (n > total_ - written_) {
    return Internal(fmt::format("{}: {} bytes given past the declared data size {}", path_,
                                written_ + n - total_, total_));
  }
  return Status::Ok();
}

Status SafetensorsWriter::Append(const void* data, size_t n) {
  OMNI_RETURN_IF_ERROR(CheckRoom(n));
  OMNI_RETURN_IF_ERROR(file_.file().Append(data, n));
  written_ += n;
  return Status::Ok();
}

Status SafetensorsWriter::Skip(uint64_t n) {
  OMNI_RETURN_IF_ERROR(CheckRoom(n));
  OMNI_RETURN_IF_ERROR(file_.file().Skip(n));
  written_ += n;
  return Status::Ok();
}

Status SafetensorsWriter::Finish(bool sync) {
  if (written_ != total_) {
    return Internal(fmt::format("{}: finished after {} of {} data bytes", path_, written_, total_));
  }
  return file_.Commit(sync);
}

}  // namespace omnisage

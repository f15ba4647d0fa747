#include "io/file_system.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "util/checksum.h"

namespace omnisage {
namespace {

class PosixFileSystem final : public FileSystem {
 public:
  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode) override {
    return omnisage::OpenFile(path, mode);
  }
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return omnisage::NewWritableFile(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return RenameFile(from, to);
  }
  Status Remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(fmt::format("{}: remove", path), errno);
    }
    return Status::Ok();
  }
  Status CreateDirectories(const std::string& path) override {
    return omnisage::CreateDirectories(path);
  }
  bool Exists(const std::string& path) override { return FileExists(path); }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs->NewWritableFile(tmp));
  Status s = f->Append(contents);
  if (s.ok()) s = f->Close(/*sync=*/true);
  if (!s.ok()) {
    (void)fs->Remove(tmp);
    return s;
  }
  return fs->Rename(tmp, path);
}

StatusOr<uint64_t> HashFile(const File& file, std::vector<uint8_t>& buffer,
                            const std::function<void(size_t)>& on_bytes) {
  Xxh3Stream hash;
  for (uint64_t off = 0; off < file.size(); off += buffer.size()) {
    const size_t n = std::min<uint64_t>(buffer.size(), file.size() - off);
    OMNI_RETURN_IF_ERROR(file.ReadAt(off, n, buffer.data()));
    hash.Update(buffer.data(), n);
    if (on_bytes) on_bytes(n);
  }
  return hash.Digest();
}

StatusOr<uint64_t> CopyFileAtomically(FileSystem* fs, const std::string& from,
                                      const std::string& to, size_t buffer_bytes) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> in, fs->OpenFile(from, ReadMode::kPread));
  const std::string tmp = to + ".tmp";
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs->NewWritableFile(tmp));
  std::vector<uint8_t> buffer(std::min<uint64_t>(buffer_bytes, std::max<uint64_t>(in->size(), 1)));
  Xxh3Stream hash;
  Status s;
  for (uint64_t off = 0; s.ok() && off < in->size(); off += buffer.size()) {
    const size_t n = std::min<uint64_t>(buffer.size(), in->size() - off);
    s = in->ReadAt(off, n, buffer.data());
    if (s.ok()) s = out->Append(buffer.data(), n);
    hash.Update(buffer.data(), n);
  }
  if (s.ok()) s = out->Close();
  if (s.ok()) s = fs->Rename(tmp, to);
  if (!s.ok()) {
    out.reset();
    (void)fs->Remove(tmp);
    return s;
  }
  return hash.Digest();
}

}  // namespace omnisage

#include "io/file_system.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "io/temp_file.h"
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
  OMNI_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(path, fs));
  OMNI_RETURN_IF_ERROR(tmp.file().Append(contents));
  return tmp.Commit(/*sync=*/true);
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  return WriteFileAtomically(FileSystem::Default(), path, contents);
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
  OMNI_ASSIGN_OR_RETURN(TempFile out, TempFile::Create(to, fs));
  std::vector<uint8_t> buffer(std::min<uint64_t>(buffer_bytes, std::max<uint64_t>(in->size(), 1)));
  Xxh3Stream hash;
  for (uint64_t off = 0; off < in->size(); off += buffer.size()) {
    const size_t n = std::min<uint64_t>(buffer.size(), in->size() - off);
    OMNI_RETURN_IF_ERROR(in->ReadAt(off, n, buffer.data()));
    OMNI_RETURN_IF_ERROR(out.file().Append(buffer.data(), n));
    hash.Update(buffer.data(), n);
  }
  OMNI_RETURN_IF_ERROR(out.Commit());
  return hash.Digest();
}

}  // namespace omnisage

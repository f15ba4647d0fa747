#include "io/temp_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>

namespace omnisage {

std::string UniqueTempPath(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}.{}.{}.tmp", path, static_cast<long>(getpid()), counter++);
}

StatusOr<TempFile> TempFile::Create(const std::string& path, FileSystem* fs) {
  if (fs == nullptr) fs = FileSystem::Default();
  std::string temp_path = UniqueTempPath(path);
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs->NewWritableFile(temp_path));
  return TempFile(path, std::move(temp_path), std::move(file), fs);
}

TempFile::TempFile(TempFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      file_(std::move(other.file_)),
      fs_(other.fs_),
      done_(other.done_) {
  other.done_ = true;
}

TempFile::~TempFile() { Discard(); }

Status TempFile::Commit(bool sync) {
  if (done_) return Internal(fmt::format("{}: committed or discarded already", temp_path_));
  Status s = file_->Close(sync);
  if (s.ok()) s = fs_->Rename(temp_path_, path_);
  if (!s.ok()) {
    Discard();
    return s;
  }
  file_.reset();
  done_ = true;
  return Status::Ok();
}

void TempFile::Discard() {
  if (done_) return;
  done_ = true;
  file_.reset();  // closes it (a WritableFile destroyed without Close reports nothing)
  (void)fs_->Remove(temp_path_);
}

}  // namespace omnisage

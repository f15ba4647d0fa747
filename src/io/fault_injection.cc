#include "io/fault_injection.h"

#include <fmt/format.h>

namespace omnisage {
namespace {

class FaultyFile final : public File {
 public:
  FaultyFile(std::unique_ptr<File> base, FaultInjectingFileSystem* fs)
      : base_(std::move(base)), fs_(fs) {}
  const std::string& name() const override { return base_->name(); }
  uint64_t size() const override { return base_->size(); }
  Status ReadAt(uint64_t offset, size_t n, void* dst) const override {
    OMNI_RETURN_IF_ERROR(fs_->CheckRead(name(), offset, n));
    return base_->ReadAt(offset, n, dst);
  }
  // No mapping: every access goes through ReadAt, where faults are injected.
  const uint8_t* mapped() const override { return nullptr; }
  ReadMode read_mode() const override {
    const ReadMode m = base_->read_mode();
    return m == ReadMode::kMmap ? ReadMode::kPread : m;
  }

 private:
  std::unique_ptr<File> base_;
  FaultInjectingFileSystem* fs_;
};

class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(std::unique_ptr<WritableFile> base, FaultInjectingFileSystem* fs)
      : base_(std::move(base)), fs_(fs) {}
  const std::string& name() const override { return base_->name(); }
  Status Append(const void* data, size_t n) override {
    OMNI_RETURN_IF_ERROR(fs_->ChargeWrite(name(), n));
    return base_->Append(data, n);
  }
  Status Skip(uint64_t n) override {
    OMNI_RETURN_IF_ERROR(fs_->ChargeWrite(name(), n));
    return base_->Skip(n);
  }
  uint64_t position() const override { return base_->position(); }
  Status Flush() override { return base_->Flush(); }
  Status Close(bool sync) override { return base_->Close(sync); }

 private:
  std::unique_ptr<WritableFile> base_;
  FaultInjectingFileSystem* fs_;
};

}  // namespace

void FaultInjectingFileSystem::FailReads(std::string substring, uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  read_fault_substring_ = std::move(substring);
  read_fault_offset_ = offset;
}

void FaultInjectingFileSystem::FailRenames(std::string substring) {
  std::lock_guard<std::mutex> lock(mu_);
  rename_fault_substring_ = std::move(substring);
}

void FaultInjectingFileSystem::RefuseDirectIo(std::string substring) {
  std::lock_guard<std::mutex> lock(mu_);
  direct_refusal_substring_ = std::move(substring);
}

StatusOr<std::unique_ptr<File>> FaultInjectingFileSystem::OpenFile(const std::string& path,
                                                                   ReadMode mode) {
  // A mapping would bypass ReadAt, where faults are injected.
  if (mode == ReadMode::kMmap) mode = ReadMode::kPread;
  bool refuse = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    refuse = mode == ReadMode::kDirect && !direct_refusal_substring_.empty() &&
             path.find(direct_refusal_substring_) != std::string::npos;
  }
  // A refusal is the POSIX file system's own fallback path, so it bypasses `base_`.
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                        refuse ? OpenFileRefusingDirect(path, mode) : base_->OpenFile(path, mode));
  return std::unique_ptr<File>(new FaultyFile(std::move(f), this));
}

StatusOr<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::NewWritableFile(
    const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, base_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(new FaultyWritableFile(std::move(f), this));
}

Status FaultInjectingFileSystem::Rename(const std::string& from, const std::string& to) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rename_fault_substring_.empty() && to.find(rename_fault_substring_) != std::string::npos) {
      faults_++;
      return IoError(fmt::format("rename {} to {}: Input/output error (injected)", from, to));
    }
  }
  return base_->Rename(from, to);
}

Status FaultInjectingFileSystem::ChargeWrite(const std::string& name, uint64_t n) {
  int64_t budget = write_budget_.load();
  if (budget >= 0) {
    if (static_cast<uint64_t>(budget) < n) {
      write_budget_ = 0;
      faults_++;
      return IoError(fmt::format("{}: write: No space left on device (injected)", name));
    }
    write_budget_ -= static_cast<int64_t>(n);
  }
  bytes_written_ += n;
  return Status::Ok();
}

Status FaultInjectingFileSystem::CheckRead(const std::string& name, uint64_t offset, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!read_fault_substring_.empty() && name.find(read_fault_substring_) != std::string::npos &&
      offset + n > read_fault_offset_) {
    faults_++;
    return IoError(
        fmt::format("{}: read at offset {}: Input/output error (injected)", name, offset));
  }
  return Status::Ok();
}

}  // namespace omnisage

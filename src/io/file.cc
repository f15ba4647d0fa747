#include "io/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "io/opened_files.h"

namespace omnisage {
namespace {

Status CheckRange(const std::string& name, uint64_t file_size, uint64_t offset, size_t n) {
  if (offset > file_size || n > file_size - offset) {
    return OutOfRange(
        fmt::format("{}: read of {} bytes at offset {} passes the end of the file "
                    "({} bytes)",
                    name, n, offset, file_size));
  }
  return Status::Ok();
}

class PosixFile final : public File {
 public:
  PosixFile(std::string name, int fd, uint64_t size, const uint8_t* map)
      : name_(std::move(name)), fd_(fd), size_(size), map_(map) {}
  ~PosixFile() override {
    if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), size_);
    close(fd_);
  }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  const uint8_t* mapped() const override { return map_; }

  Status ReadAt(uint64_t offset, size_t n, void* dst) const override {
    OMNI_RETURN_IF_ERROR(CheckRange(name_, size_, offset, n));
    if (map_ != nullptr) {
      std::memcpy(dst, map_ + offset, n);
      return Status::Ok();
    }
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      ssize_t got = pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(fmt::format("{}: read at offset {}", name_, offset), errno);
      }
      if (got == 0) {
        return IoError(fmt::format("{}: unexpected end of file at offset {}", name_, offset));
      }
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  int fd_;
  uint64_t size_;
  const uint8_t* map_;
};

class MemoryFile final : public File {
 public:
  MemoryFile(std::string name, std::string contents)
      : name_(std::move(name)), contents_(std::move(contents)) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return contents_.size(); }
  const uint8_t* mapped() const override {
    return reinterpret_cast<const uint8_t*>(contents_.data());
  }
  Status ReadAt(uint64_t offset, size_t n, void* dst) const override {
    OMNI_RETURN_IF_ERROR(CheckRange(name_, size(), offset, n));
    std::memcpy(dst, contents_.data() + offset, n);
    return Status::Ok();
  }

 private:
  std::string name_;
  std::string contents_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {
    buffer_.reserve(kBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) close(fd_);
  }

  const std::string& name() const override { return name_; }
  uint64_t position() const override { return position_; }

  Status Append(const void* data, size_t n) override {
    const auto* p = static_cast<const uint8_t*>(data);
    if (buffer_.size() + n > kBufferSize) OMNI_RETURN_IF_ERROR(Flush());
    if (n >= kBufferSize) {
      OMNI_RETURN_IF_ERROR(WriteAll(p, n));
    } else {
      buffer_.insert(buffer_.end(), p, p + n);
    }
    position_ += n;
    return Status::Ok();
  }

  Status Skip(uint64_t n) override {
    OMNI_RETURN_IF_ERROR(Flush());
    if (lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
      return ErrnoError(fmt::format("{}: seek", name_), errno);
    }
    position_ += n;
    return Status::Ok();
  }

  Status Flush() override {
    if (buffer_.empty()) return Status::Ok();
    Status s = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return s;
  }

  Status Close(bool sync) override {
    OMNI_RETURN_IF_ERROR(Flush());
    // A trailing Skip leaves the file short; ftruncate extends it (as a hole).
    if (ftruncate(fd_, static_cast<off_t>(position_)) != 0) {
      return ErrnoError(fmt::format("{}: set length", name_), errno);
    }
    if (sync && fsync(fd_) != 0) return ErrnoError(fmt::format("{}: fsync", name_), errno);
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return ErrnoError(fmt::format("{}: close", name_), errno);
    return Status::Ok();
  }

 private:
  static constexpr size_t kBufferSize = 1 << 20;

  Status WriteAll(const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t put = write(fd_, p, n);
      if (put < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(fmt::format("{}: write", name_), errno);
      }
      p += put;
      n -= static_cast<size_t>(put);
    }
    return Status::Ok();
  }

  std::string name_;
  int fd_;
  uint64_t position_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace

StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(fmt::format("{}: open", path), errno);
  NoteOpenedFile(path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ErrnoError(fmt::format("{}: stat", path), e);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgument(fmt::format("{}: not a regular file", path));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint8_t* map = nullptr;
  if (mode == ReadMode::kMmap && size > 0) {
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      close(fd);
      return ErrnoError(fmt::format("{}: mmap", path), e);
    }
    map = static_cast<const uint8_t*>(p);
  }
  return std::unique_ptr<File>(new PosixFile(path, fd, size, map));
}

uint64_t EnsureOpenFileLimit(uint64_t n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n) {
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= n) ? n : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(rl.rlim_cur);
}

std::unique_ptr<File> NewMemoryFile(std::string name, std::string contents) {
  return std::make_unique<MemoryFile>(std::move(name), std::move(contents));
}

StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(fmt::format("{}: create", path), errno);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

StatusOr<std::string> ReadFileToString(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> file, OpenFile(path));
  std::string out(file->size(), '\0');
  OMNI_RETURN_IF_ERROR(file->ReadAt(0, out.size(), out.data()));
  return out;
}

Status RenameFile(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(fmt::format("rename {} to {}", from, to), errno);
  }
  return Status::Ok();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status CreateDirectories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return IoError(fmt::format("{}: create directory: {}", path, ec.message()));
  return Status::Ok();
}

}  // namespace omnisage

#include "io/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
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

// pread(2) of exactly `n` bytes (fewer only at the end of the file, when `short_ok`).
Status PreadFull(const std::string& name, int fd, uint64_t offset, size_t n, uint8_t* out,
                 bool short_ok, size_t* got_total = nullptr) {
  size_t total = 0;
  while (total < n) {
    ssize_t got = pread(fd, out + total, n - total, static_cast<off_t>(offset + total));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("{}: read at offset {}", name, offset + total), errno);
    }
    if (got == 0) {
      if (short_ok) break;
      return IoError(fmt::format("{}: unexpected end of file at offset {}", name, offset + total));
    }
    total += static_cast<size_t>(got);
  }
  if (got_total != nullptr) *got_total = total;
  return Status::Ok();
}

// The reading thread's O_DIRECT buffer: kDirectChunkBytes, aligned, allocated on first use.
uint8_t* DirectBuffer() {
  struct Buffer {
    uint8_t* p = nullptr;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffer;
  if (buffer.p == nullptr) {
    buffer.p = static_cast<uint8_t*>(std::aligned_alloc(kDirectAlignment, kDirectChunkBytes));
  }
  return buffer.p;
}

struct Fallbacks {
  std::mutex mu;
  std::vector<std::string> lines;
};
Fallbacks& GetFallbacks() {
  static Fallbacks* f = new Fallbacks();  // never destroyed: reader threads may outlive main
  return *f;
}

void NoteFallback(const std::string& path, const std::string& reason) {
  const std::string line = fmt::format(
      "{}: the file system refuses O_DIRECT ({}); read with pread, dropping the pages after "
      "each read (--io drop)",
      path, reason);
  Fallbacks& f = GetFallbacks();
  std::lock_guard<std::mutex> lock(f.mu);
  if (f.lines.empty()) fmt::print(stderr, "omnisage: note: {}\n", line);
  f.lines.push_back(line);
}

class PosixFile final : public File {
 public:
  PosixFile(std::string name, int fd, uint64_t size, const uint8_t* map, ReadMode mode)
      : name_(std::move(name)), fd_(fd), size_(size), map_(map), mode_(mode) {}
  ~PosixFile() override {
    if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), size_);
    close(fd_);
  }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  const uint8_t* mapped() const override { return map_; }
  ReadMode read_mode() const override { return mode_; }

  Status ReadAt(uint64_t offset, size_t n, void* dst) const override {
    OMNI_RETURN_IF_ERROR(CheckRange(name_, size_, offset, n));
    auto* out = static_cast<uint8_t*>(dst);
    switch (mode_) {
      case ReadMode::kMmap:
        if (map_ != nullptr) std::memcpy(dst, map_ + offset, n);
        return Status::Ok();
      case ReadMode::kDirect:
        return ReadDirect(offset, n, out);
      case ReadMode::kDropCache:
        OMNI_RETURN_IF_ERROR(PreadFull(name_, fd_, offset, n, out, false));
        DropPages(offset, n);
        return Status::Ok();
      case ReadMode::kPread:
        break;
    }
    return PreadFull(name_, fd_, offset, n, out, false);
  }

  // An O_DIRECT read of the aligned block holding `offset`: the probe that tells whether the file
  // system accepts O_DIRECT. The OS's errno (EINVAL: refused), or 0.
  int ProbeDirect() const {
    if (size_ == 0) return 0;
    ssize_t got;
    do {
      got = pread(fd_, DirectBuffer(), kDirectAlignment, 0);
    } while (got < 0 && errno == EINTR);
    return got < 0 ? errno : 0;
  }

 private:
  // Whole pages covering [offset, offset + n): partial pages at either end are dropped too (the
  // neighbours' bytes are read from disk again if needed, never kept twice).
  void DropPages(uint64_t offset, size_t n) const {
    const uint64_t first = offset / kDirectAlignment * kDirectAlignment;
    const uint64_t end = (offset + n + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
    (void)posix_fadvise(fd_, static_cast<off_t>(first), static_cast<off_t>(end - first),
                        POSIX_FADV_DONTNEED);
  }

  Status ReadDirect(uint64_t offset, size_t n, uint8_t* out) const {
    uint8_t* buffer = DirectBuffer();
    if (buffer == nullptr) return ResourceExhausted(name_ + ": no memory for the O_DIRECT buffer");
    while (n > 0) {
      const uint64_t aligned = offset / kDirectAlignment * kDirectAlignment;
      const size_t skip = static_cast<size_t>(offset - aligned);
      const size_t want = std::min(kDirectChunkBytes, (skip + n + kDirectAlignment - 1) /
                                                          kDirectAlignment * kDirectAlignment);
      size_t got = 0;
      OMNI_RETURN_IF_ERROR(PreadFull(name_, fd_, aligned, want, buffer, true, &got));
      if (got <= skip) {
        return IoError(fmt::format("{}: unexpected end of file at offset {}", name_, offset));
      }
      const size_t take = std::min(n, got - skip);
      std::memcpy(out, buffer + skip, take);
      out += take;
      offset += take;
      n -= take;
    }
    return Status::Ok();
  }

  std::string name_;
  int fd_;
  uint64_t size_;
  const uint8_t* map_;
  ReadMode mode_;
};

StatusOr<std::unique_ptr<File>> OpenPosixFile(const std::string& path, ReadMode mode,
                                              bool refuse_direct) {
  int flags = O_RDONLY | O_CLOEXEC;
  std::string refused;
  if (mode == ReadMode::kDirect) {
    if (refuse_direct) {
      refused = "Invalid argument (injected)";
    } else {
      flags |= O_DIRECT;
    }
  }
  int fd = open(path.c_str(), flags);
  if (fd < 0 && errno == EINVAL && (flags & O_DIRECT) != 0) {
    refused = fmt::format("open: {}", std::strerror(errno));
    flags &= ~O_DIRECT;
    fd = open(path.c_str(), flags);
  }
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
  if ((flags & O_DIRECT) != 0) {
    auto file = std::make_unique<PosixFile>(path, fd, size, nullptr, ReadMode::kDirect);
    const int e = file->ProbeDirect();
    if (e == 0) return std::unique_ptr<File>(std::move(file));
    if (e != EINVAL) return ErrnoError(fmt::format("{}: read at offset 0", path), e);
    file.reset();  // closes fd
    refused = fmt::format("read: {}", std::strerror(e));
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(fmt::format("{}: open", path), errno);
  }
  if (!refused.empty()) {
    NoteFallback(path, refused);
    mode = ReadMode::kDropCache;
  }
  // No readahead: pages read ahead of a request would stay cached after its pages are dropped.
  if (mode == ReadMode::kDropCache) (void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  return std::unique_ptr<File>(new PosixFile(path, fd, size, map, mode));
}

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

std::string_view ReadModeName(ReadMode mode) {
  switch (mode) {
    case ReadMode::kPread:
      return "cached";
    case ReadMode::kMmap:
      return "mmap";
    case ReadMode::kDropCache:
      return "drop";
    case ReadMode::kDirect:
      return "direct";
  }
  return "?";
}

StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, ReadMode mode) {
  return OpenPosixFile(path, mode, /*refuse_direct=*/false);
}

StatusOr<std::unique_ptr<File>> OpenFileRefusingDirect(const std::string& path, ReadMode mode) {
  return OpenPosixFile(path, mode, /*refuse_direct=*/true);
}

std::vector<std::string> DirectIoFallbacks() {
  Fallbacks& f = GetFallbacks();
  std::lock_guard<std::mutex> lock(f.mu);
  return f.lines;
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

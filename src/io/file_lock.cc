#include "io/file_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace omnisage {

StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path, Mode mode) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(fmt::format("{}: create lock file", path), errno);
  int rc;
  do {
    rc = flock(fd, LOCK_EX | (mode == Mode::kTry ? LOCK_NB : 0));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) {
      char buf[32] = {0};
      const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
      close(fd);
      const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
      return IoError(pid > 0 ? fmt::format("{} is held by process {}", path, pid)
                             : fmt::format("{} is held by another process", path));
    }
    close(fd);
    return ErrnoError(fmt::format("{}: lock", path), e);
  }
  // Best effort: the pid only improves the next writer's message.
  const std::string pid = std::to_string(static_cast<long>(getpid())) + "\n";
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid.data(), pid.size(), 0);
  return std::unique_ptr<FileLock>(new FileLock(path, fd));
}

FileLock::~FileLock() {
  // Closing the descriptor releases the lock.
  close(fd_);
}

}  // namespace omnisage

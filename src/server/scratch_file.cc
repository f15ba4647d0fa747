#include "server/scratch_file.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace omnisage {

StatusOr<std::shared_ptr<ScratchFile>> ScratchFile::Write(const std::string& part,
                                                          const std::string& bytes) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  std::string path = (dir / "omnisage-media-XXXXXX").string();
  const int fd = mkstemp(path.data());  // mode 0600
  if (fd < 0) {
    return IoError(fmt::format("{}: cannot create a temporary file in {}: {}", part, dir.string(),
                               std::strerror(errno)));
  }
  std::shared_ptr<ScratchFile> file(new ScratchFile(path, part));  // removes it from here on
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return IoError(fmt::format("{}: cannot write a temporary file ({} bytes): {}", part,
                                 bytes.size(), std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return IoError(
        fmt::format("{}: cannot write a temporary file: {}", part, std::strerror(errno)));
  }
  return file;
}

ScratchFile::~ScratchFile() { ::unlink(path_.c_str()); }

}  // namespace omnisage

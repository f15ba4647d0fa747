// ScratchFile: a request's media bytes written to a private temporary file, for readers that take
// a path (the FFmpeg video reader, media/video_file.h). Created with mkstemp in the system's
// temporary directory ($TMPDIR, else /tmp), mode 0600, and removed when the last owner lets go
// (the parsed request and the scheduler's job share it: a request refused, failed or cancelled by
// a client that went away removes it as soon as both are done). A process killed outright leaves
// it behind, named omnisage-media-XXXXXX. Thread-safe per object.
#pragma once

#include <memory>
#include <string>

#include "util/status.h"

namespace omnisage {

class ScratchFile {
 public:
  // Writes `bytes` to a new file; `part` names where they came from ("messages[0].content[1]").
  static StatusOr<std::shared_ptr<ScratchFile>> Write(const std::string& part,
                                                      const std::string& bytes);
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile();

  const std::string& path() const { return path_; }
  const std::string& part() const { return part_; }

 private:
  ScratchFile(std::string path, std::string part)
      : path_(std::move(path)), part_(std::move(part)) {}
  std::string path_;
  std::string part_;
};

}  // namespace omnisage

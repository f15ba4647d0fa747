// WavWriter: a waveform written to a WAV file as it is made (speech output), through libsndfile:
// mono, 16-bit PCM, at the given sample rate. The samples go to "<path>.tmp" in the same
// directory, which Close renames to `path`, so a file at `path` is always complete; a writer
// destroyed before Close removes its temporary file.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "util/status.h"

namespace omnisage {

class WavWriter {
 public:
  // Errors name the file: a directory that does not exist or cannot be written to.
  static StatusOr<std::unique_ptr<WavWriter>> Open(const std::string& path, int sample_rate);
  ~WavWriter();

  // Appends n samples in [−1, 1] (clipped to it).
  Status Write(const float* samples, int64_t n);
  // Finishes the file and moves it into place.
  Status Close();

  const std::string& path() const { return path_; }
  int64_t samples() const { return samples_; }

 private:
  WavWriter() = default;

  std::string path_, tmp_;
  void* file_ = nullptr;  // SNDFILE*
  int64_t samples_ = 0;
};

}  // namespace omnisage

#include "media/wav_writer.h"

#include <fmt/format.h>
#include <sndfile.h>

#include <cstdio>
#include <filesystem>

namespace omnisage {

StatusOr<std::unique_ptr<WavWriter>> WavWriter::Open(const std::string& path, int sample_rate) {
  std::unique_ptr<WavWriter> w(new WavWriter());
  w->path_ = path;
  w->tmp_ = path + ".tmp";
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(w->tmp_.c_str(), SFM_WRITE, &info);
  if (f == nullptr) {
    return IoError(fmt::format("{}: cannot write the audio ({})", path, sf_strerror(nullptr)));
  }
  // Samples beyond [−1, 1] are clipped, not wrapped.
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  w->file_ = f;
  return w;
}

WavWriter::~WavWriter() {
  if (file_ != nullptr) {
    sf_close(static_cast<SNDFILE*>(file_));
    std::remove(tmp_.c_str());
  }
}

Status WavWriter::Write(const float* samples, int64_t n) {
  if (file_ == nullptr) return IoError(fmt::format("{}: already closed", path_));
  if (n <= 0) return Status::Ok();
  SNDFILE* f = static_cast<SNDFILE*>(file_);
  if (sf_write_float(f, samples, n) != n) {
    return IoError(fmt::format("{}: writing the audio failed ({})", path_, sf_strerror(f)));
  }
  samples_ += n;
  return Status::Ok();
}

Status WavWriter::Close() {
  if (file_ == nullptr) return IoError(fmt::format("{}: already closed", path_));
  const int closed = sf_close(static_cast<SNDFILE*>(file_));
  file_ = nullptr;
  if (closed != 0) {
    std::remove(tmp_.c_str());
    return IoError(
        fmt::format("{}: finishing the audio failed ({})", path_, sf_error_number(closed)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    std::remove(tmp_.c_str());
    return IoError(fmt::format("{}: cannot move the audio into place: {}", path_, ec.message()));
  }
  return Status::Ok();
}

}  // namespace omnisage

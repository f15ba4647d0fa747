#include "media/audio_file.h"

#include <fmt/format.h>
#include <sndfile.h>
#include <soxr.h>

#include <cmath>
#include <cstring>
#include <memory>

namespace omnisage {
namespace {

// libsndfile reads through these callbacks, so every byte comes through File::ReadAt.
struct VirtualFile {
  const File* file;
  sf_count_t pos = 0;
  Status error;  // the first read error, reported instead of libsndfile's own message
};

sf_count_t VfLength(void* user) { return static_cast<VirtualFile*>(user)->file->size(); }

sf_count_t VfSeek(sf_count_t offset, int whence, void* user) {
  auto* vf = static_cast<VirtualFile*>(user);
  const sf_count_t size = static_cast<sf_count_t>(vf->file->size());
  sf_count_t target = offset;
  if (whence == SEEK_CUR) target = vf->pos + offset;
  if (whence == SEEK_END) target = size + offset;
  if (target < 0) return -1;
  vf->pos = target;
  return vf->pos;
}

sf_count_t VfRead(void* dst, sf_count_t count, void* user) {
  auto* vf = static_cast<VirtualFile*>(user);
  const sf_count_t size = static_cast<sf_count_t>(vf->file->size());
  const sf_count_t n = std::max<sf_count_t>(0, std::min(count, size - vf->pos));
  if (n == 0) return 0;
  Status s = vf->file->ReadAt(static_cast<uint64_t>(vf->pos), static_cast<size_t>(n), dst);
  if (!s.ok()) {
    if (vf->error.ok()) vf->error = s;
    return 0;
  }
  vf->pos += n;
  return n;
}

sf_count_t VfWrite(const void*, sf_count_t, void*) { return 0; }

sf_count_t VfTell(void* user) { return static_cast<VirtualFile*>(user)->pos; }

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

std::string FormatName(int format) {
  SF_FORMAT_INFO info{};
  info.format = format & SF_FORMAT_TYPEMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) != 0 || info.name == nullptr) {
    return fmt::format("format 0x{:x}", format);
  }
  return info.name;
}

}  // namespace

StatusOr<DecodedAudio> DecodeAudio(const File& file) {
  const std::string& name = file.name();
  if (file.size() == 0) return InvalidArgument(fmt::format("{}: empty file, no audio", name));
  VirtualFile vf{.file = &file, .pos = 0, .error = Status::Ok()};
  SF_VIRTUAL_IO io{VfLength, VfSeek, VfRead, VfWrite, VfTell};
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> snd(sf_open_virtual(&io, SFM_READ, &info, &vf));
  if (!vf.error.ok()) return vf.error;
  if (snd == nullptr) {
    return InvalidArgument(fmt::format(
        "{}: not an audio file this build reads (WAV, FLAC, OGG/Vorbis, MP3 and the other "
        "libsndfile formats): {}",
        name, sf_strerror(nullptr)));
  }
  if (info.channels <= 0 || info.samplerate <= 0) {
    return InvalidArgument(
        fmt::format("{}: {} channels at {} Hz", name, info.channels, info.samplerate));
  }
  DecodedAudio out;
  out.sample_rate = info.samplerate;
  out.channels = info.channels;
  out.format = FormatName(info.format);
  // Read until the decoder stops: some formats (MP3, streamed OGG) only estimate `frames`.
  constexpr sf_count_t kBlock = 1 << 14;
  std::vector<float> block(static_cast<size_t>(kBlock) * info.channels);
  while (true) {
    const sf_count_t got = sf_readf_float(snd.get(), block.data(), kBlock);
    if (!vf.error.ok()) return vf.error;
    if (got <= 0) break;
    out.samples.insert(out.samples.end(), block.begin(), block.begin() + got * info.channels);
  }
  if (sf_error(snd.get()) != SF_ERR_NO_ERROR) {
    return InvalidArgument(fmt::format("{}: corrupt audio data: {}", name, sf_strerror(snd.get())));
  }
  if (out.samples.empty()) return InvalidArgument(fmt::format("{}: no audio samples", name));
  for (size_t i = 0; i < out.samples.size(); ++i) {
    if (!std::isfinite(out.samples[i])) {
      return InvalidArgument(fmt::format("{}: sample {} of channel {} is not finite ({})", name,
                                         i / info.channels, i % info.channels, out.samples[i]));
    }
  }
  return out;
}

StatusOr<std::vector<float>> ToMono(const DecodedAudio& audio, int rate, const std::string& name) {
  const int64_t frames = audio.frames();
  if (frames == 0) return InvalidArgument(fmt::format("{}: no audio samples", name));
  if (audio.channels == 1 && audio.sample_rate == rate) return audio.samples;
  std::vector<float> mono;
  if (audio.channels == 1) {
    mono = audio.samples;
  } else {
    mono.resize(frames);
    const int c = audio.channels;
    for (int64_t i = 0; i < frames; ++i) {
      float sum = 0;
      for (int j = 0; j < c; ++j) sum += audio.samples[i * c + j];
      mono[i] = sum / static_cast<float>(c);
    }
  }
  if (audio.sample_rate == rate) return mono;
  const size_t out_len = static_cast<size_t>(
      std::llround(static_cast<double>(frames) * rate / static_cast<double>(audio.sample_rate)));
  std::vector<float> out(std::max<size_t>(out_len, 1));
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  size_t done = 0;
  soxr_error_t err = soxr_oneshot(audio.sample_rate, rate, 1, mono.data(), mono.size(), nullptr,
                                  out.data(), out.size(), &done, &io, &quality, nullptr);
  if (err != nullptr) {
    return Internal(
        fmt::format("{}: resampling {} Hz to {} Hz: {}", name, audio.sample_rate, rate, err));
  }
  out.resize(done);
  if (out.empty()) {
    return InvalidArgument(fmt::format("{}: too short: {} frames at {} Hz leave no sample at {} Hz",
                                       name, frames, audio.sample_rate, rate));
  }
  return out;
}

StatusOr<std::vector<float>> LoadAudio16kMono(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> file, OpenFile(path));
  OMNI_ASSIGN_OR_RETURN(DecodedAudio audio, DecodeAudio(*file));
  return ToMono(audio, kAudioSampleRate, path);
}

}  // namespace omnisage

// Audio files: every format libsndfile writes here is read back, converted to 16 kHz mono as
// documented in media/audio_file.h, and each kind of bad input is an error naming the file.
#include "media/audio_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "io/fault_injection.h"

namespace omnisage {
namespace {

namespace fs = std::filesystem;

class AudioFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / fmt::format("omnisage_audio_file_{}", getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `frames` frames of `channels` interleaved samples with libsndfile.
  std::string Write(const std::string& name, int format, int rate, int channels,
                    const std::vector<float>& samples) {
    const std::string path = (dir_ / name).string();
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = format;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    EXPECT_NE(f, nullptr) << path << ": " << sf_strerror(nullptr);
    if (f == nullptr) return path;
    const sf_count_t frames = static_cast<sf_count_t>(samples.size()) / channels;
    EXPECT_EQ(sf_writef_float(f, samples.data(), frames), frames);
    sf_close(f);
    return path;
  }
  std::string WriteBytes(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  fs::path dir_;
};

// A sine of `hz` at `rate`, `seconds` long, amplitude 0.5.
std::vector<float> Sine(double hz, int rate, double seconds, double phase = 0) {
  std::vector<float> s(static_cast<size_t>(std::lround(seconds * rate)));
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * hz * i / rate + phase));
  }
  return s;
}

TEST_F(AudioFileTest, SixteenKilohertzMonoPassesThroughBitIdentical) {
  const std::vector<float> in = Sine(440, 16000, 0.5);
  const std::string path = Write("a.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, in);
  auto out = LoadAudio16kMono(path);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), in.size());
  EXPECT_EQ(0, std::memcmp(out->data(), in.data(), in.size() * sizeof(float)));
}

TEST_F(AudioFileTest, SixteenBitPcmIsScaledBy32768) {
  const std::vector<int16_t> pcm = {0, 16384, -16384, 1, -32768, 32767, 12345};
  const std::string path = (dir_ / "pcm.wav").string();
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(sf_writef_short(f, pcm.data(), static_cast<sf_count_t>(pcm.size())),
            static_cast<sf_count_t>(pcm.size()));
  sf_close(f);
  auto out = LoadAudio16kMono(path);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) EXPECT_EQ((*out)[i], pcm[i] / 32768.0f) << i;
}

TEST_F(AudioFileTest, StereoIsAveragedThenResampledWithSoxr) {
  // Left 0.5·sin, right 0.5·sin + 0.2: the mean is 0.5·sin + 0.1, a 440 Hz tone and a DC offset.
  const int rate = 44100;
  const std::vector<float> tone = Sine(440, rate, 1.0);
  std::vector<float> stereo(2 * tone.size());
  for (size_t i = 0; i < tone.size(); ++i) {
    stereo[2 * i] = tone[i];
    stereo[2 * i + 1] = tone[i] + 0.2f;
  }
  const std::string path = Write("st.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, 2, stereo);
  auto out = LoadAudio16kMono(path);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 16000u);  // round(44100 · 16000 / 44100)
  // Away from the edges (the filter's ramp) the result is the same tone sampled at 16 kHz. SOXR_HQ
  // keeps 20 bits: the error is ~1e-6 of full scale; 1e-4 leaves room and still catches a wrong
  // rate, a missing downmix or a half-sample shift.
  const std::vector<float> expect = Sine(440, 16000, 1.0);
  double max_err = 0;
  for (size_t i = 400; i < 15600; ++i) {
    max_err = std::max<double>(max_err, std::fabs((*out)[i] - (expect[i] + 0.1)));
  }
  EXPECT_LT(max_err, 1e-4);
}

TEST_F(AudioFileTest, ReadsFlacOggAndMp3) {
  const std::vector<float> in = Sine(300, 22050, 0.6);
  struct Case {
    const char* name;
    int format;
    double tolerance;  // lossy codecs change the waveform
  };
  for (const Case& c : {Case{"a.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1e-3},
                        Case{"a.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.05},
                        Case{"a.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0.05}}) {
    SCOPED_TRACE(c.name);
    const std::string path = Write(c.name, c.format, 22050, 1, in);
    auto file = OpenFile(path);
    ASSERT_TRUE(file.ok());
    auto decoded = DecodeAudio(**file);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->sample_rate, 22050);
    EXPECT_EQ(decoded->channels, 1);
    // MP3 adds encoder delay and padding frames; the others keep the length.
    if (c.format != (SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III)) {
      ASSERT_EQ(decoded->frames(), static_cast<int64_t>(in.size()));
      double err = 0;
      for (size_t i = 0; i < in.size(); ++i)
        err = std::max<double>(err, std::fabs(decoded->samples[i] - in[i]));
      EXPECT_LT(err, c.tolerance);
    } else {
      EXPECT_GE(decoded->frames(), static_cast<int64_t>(in.size()));
    }
    auto mono = LoadAudio16kMono(path);
    ASSERT_TRUE(mono.ok()) << mono.status().ToString();
    EXPECT_NEAR(static_cast<double>(mono->size()), decoded->frames() * 16000.0 / 22050, 1.0);
  }
}

// Every bad input is an error that names the file.
void ExpectErrorNaming(const StatusOr<std::vector<float>>& r, const std::string& path,
                       const std::string& what) {
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

TEST_F(AudioFileTest, MissingFileIsAnErrorNamingIt) {
  const std::string path = (dir_ / "nope.wav").string();
  ExpectErrorNaming(LoadAudio16kMono(path), path, "nope.wav");
}

TEST_F(AudioFileTest, GarbageBytesAreAnErrorNamingTheFile) {
  std::string bytes(4096, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919 + 13) % 251);
  const std::string path = WriteBytes("garbage.wav", bytes);
  ExpectErrorNaming(LoadAudio16kMono(path), path, "not an audio file");
}

TEST_F(AudioFileTest, TruncatedHeaderIsAnError) {
  const std::string good =
      Write("good.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, Sine(440, 16000, 0.1));
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = WriteBytes("cut.wav", bytes.substr(0, 20));
  ExpectErrorNaming(LoadAudio16kMono(path), path, "cut.wav");
}

TEST_F(AudioFileTest, EmptyFileIsAnError) {
  const std::string path = WriteBytes("empty.wav", "");
  ExpectErrorNaming(LoadAudio16kMono(path), path, "empty file");
}

TEST_F(AudioFileTest, ZeroLengthAudioIsAnError) {
  const std::string path = Write("zero.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, {});
  ExpectErrorNaming(LoadAudio16kMono(path), path, "no audio samples");
}

TEST_F(AudioFileTest, NanAndInfiniteSamplesAreErrors) {
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> in = Sine(440, 16000, 0.01);
    in[37] = bad;
    const std::string path = Write(fmt::format("bad{}.wav", std::signbit(bad) ? "m"
                                                            : std::isnan(bad) ? "n"
                                                                              : "p"),
                                   SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, in);
    ExpectErrorNaming(LoadAudio16kMono(path), path, "sample 37 of channel 0 is not finite");
  }
}

TEST_F(AudioFileTest, ReadErrorsOfTheUnderlyingFileAreReported) {
  const std::string path =
      Write("disk.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, Sine(440, 16000, 0.5));
  FaultInjectingFileSystem fs;
  fs.FailReads("disk.wav", 4000);  // inside the sample data
  auto file = fs.OpenFile(path, ReadMode::kPread);
  ASSERT_TRUE(file.ok());
  auto decoded = DecodeAudio(**file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("disk.wav"), std::string::npos)
      << decoded.status().message();
  EXPECT_EQ(fs.faults(), 1);
}

}  // namespace
}  // namespace omnisage

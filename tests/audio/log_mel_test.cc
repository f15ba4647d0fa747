// Log-mel features against transformers' WhisperFeatureExtractor (tests/golden/audio/mel, from
// tools/reference/make_audio_golden.py) on clips both sides generate bit-identically.
//
// The bound: features are (log10(mel) + 4) / 4. The reference runs torch.stft and the filter
// matmul in float32, OmniSage in double; the largest difference measured on these clips is 4e-6
// (float32 rounding of the reference, seen through log10 / 4). 5e-5 leaves >10x headroom and is
// still far below what a wrong window, filter, hop or padding does (1e-2 and more, as the
// padding check below shows).
#include "audio/log_mel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "source_paths.h"
#include "test_clips.h"

namespace omnisage {
namespace {

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/audio/mel/";

nlohmann::json Meta() {
  std::ifstream f(kDir + "meta.json");
  return nlohmann::json::parse(f);
}

std::vector<float> ReadF32(const std::string& path, size_t n) {
  std::vector<float> v(n);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(v.data()), n * sizeof(float));
  EXPECT_TRUE(f.good()) << path;
  return v;
}

// Max |a - golden| over a clip's features; also checks the shape.
double MaxDiff(const MelFeatures& got, const nlohmann::json& entry) {
  const int64_t bins = entry["bins"], frames = entry["frames"];
  EXPECT_EQ(got.bins, bins);
  EXPECT_EQ(got.frames, frames);
  if (got.bins != bins || got.frames != frames) return INFINITY;
  const std::vector<float> want = ReadF32(kDir + entry["file"].get<std::string>(), bins * frames);
  double max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got.data[i]) - want[i]));
  }
  return max_diff;
}

TEST(LogMelTest, OneClipMatchesWhisperFeatureExtractor) {
  const nlohmann::json entry = Meta()["cases"]["single"][0];
  const LogMel mel(128);
  auto f = mel.Compute(testing::TestClip(entry["seed"], entry["samples"]), "single");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const double diff = MaxDiff(*f, entry);
  EXPECT_LT(diff, 5e-5);
  RecordProperty("max_abs_diff", std::to_string(diff));
}

TEST(LogMelTest, ClipsOfOnePromptArePaddedToTheLongestAsTheProcessorDoes) {
  const nlohmann::json entries = Meta()["cases"]["batch"];
  std::vector<std::vector<float>> clips;
  for (const auto& e : entries) clips.push_back(testing::TestClip(e["seed"], e["samples"]));
  const LogMel mel(128);
  auto f = mel.ComputeBatch(clips, {"long", "short"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const double diff = MaxDiff((*f)[i], entries[i]);
    EXPECT_LT(diff, 5e-5) << "clip " << i;
    RecordProperty("max_abs_diff_" + std::to_string(i), std::to_string(diff));
  }
  // 7213 samples keep ceil(7213 / 160) = 46 frames when batched, 45 alone, and the frames
  // differ where the clip's end meets the padding (zeros instead of a reflection).
  auto alone = mel.Compute(clips[1], "short");
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->frames, 45);
  double end_diff = 0;
  for (int64_t b = 0; b < 128; ++b) {
    end_diff = std::max<double>(end_diff, std::fabs(alone->at(b, 44) - (*f)[1].at(b, 44)));
  }
  EXPECT_GT(end_diff, 1e-3);
}

TEST(LogMelTest, SilenceSitsOnTheFloorEightBelowTheMaximum) {
  std::vector<float> clip = testing::TestClip(5, 16000);  // quarter second 3 is exact zeros
  const LogMel mel(128);
  auto f = mel.Compute(clip, "clip");
  ASSERT_TRUE(f.ok());
  float hi = -INFINITY, lo = INFINITY;
  for (float v : f->data) hi = std::max(hi, v), lo = std::min(lo, v);
  EXPECT_FLOAT_EQ(lo, hi - 2.0f);      // (max - 8 + 4) / 4 = max' - 2
  EXPECT_FLOAT_EQ(f->at(64, 87), lo);  // frame 87: samples 13720..14120, all silent
  EXPECT_EQ(f->frames, 100);
}

TEST(LogMelTest, FiltersAreSlaneyNormalisedTriangles) {
  const LogMel mel(128);
  const std::vector<float>& w = mel.filters();
  ASSERT_EQ(w.size(), 128u * 201);
  for (int64_t b = 0; b < 128; ++b) {
    int peaks = 0;
    for (int64_t f = 0; f < 201; ++f) {
      EXPECT_GE(w[b * 201 + f], 0.0f);
      peaks += w[b * 201 + f] > 0;
    }
    EXPECT_GT(peaks, 0) << "filter " << b << " is empty";
  }
  // Nothing above 8 kHz: bin 200 is 8000 Hz, the last filter's edge.
  for (int64_t b = 0; b < 128; ++b) EXPECT_EQ(w[b * 201 + 200], 0.0f);
}

TEST(LogMelTest, TooShortClipIsAnErrorNamingIt) {
  const LogMel mel(128);
  auto f = mel.Compute(std::vector<float>(200, 0.1f), "tiny.wav");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("tiny.wav"), std::string::npos);
  EXPECT_TRUE(mel.Compute(std::vector<float>(201, 0.1f), "ok.wav").ok());
}

}  // namespace
}  // namespace omnisage

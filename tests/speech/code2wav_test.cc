// Code2Wav against HF transformers (tests/golden/speech, by tools/reference/make_speech_golden.py)
// on the tiny generated checkpoint, and streaming against one-shot chunked decoding.
//
// Bound: both sides compute in float32 from the same bf16 weights and differ in summation order
// and libm (sin, exp, erf). Measured when the fixtures were made: under 1e-6 on samples up to
// 0.49 (see docs/speech.md); 1e-4 leaves ample headroom yet is far below the effect of one bf16
// weight bit in any layer (~4e-3 relative).
#include "speech/code2wav.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/weight_source.h"
#include "model/config.h"
#include "tiny_checkpoint.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class Code2WavTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = LoadModelConfig(TinyCheckpointDir() + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto source = OpenCheckpointSource(TinyCheckpointDir());
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    source_ = std::move(*source);
    auto model = Code2Wav::Load(*source_, config->code2wav);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(*model);
    meta_ = nlohmann::json::parse(std::ifstream(SpeechGolden("code2wav.json")));
    codes_ = ReadBinaryFile<int32_t>(SpeechGolden("code2wav_codes.i32"));
    frames_ = meta_["frames"].get<int64_t>();
    ASSERT_EQ(codes_.size(), static_cast<size_t>(frames_ * model_->config().num_quantizers));
  }

  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<Code2Wav> model_;
  nlohmann::json meta_;
  std::vector<int32_t> codes_;
  int64_t frames_ = 0;
  ThreadPool pool_{2};
};

TEST_F(Code2WavTest, OneWindowMatchesTransformers) {
  EXPECT_EQ(model_->samples_per_frame(), meta_["samples_per_frame"].get<int64_t>());
  const std::vector<float> want = ReadBinaryFile<float>(SpeechGolden("code2wav_full.f32"));
  std::vector<float> wav;
  ASSERT_TRUE(model_->Decode(codes_.data(), frames_, &wav, &pool_).ok());
  ASSERT_EQ(wav.size(), want.size());
  const float diff = MaxAbsDiff(wav, want);
  EXPECT_LT(diff, 1e-4f);
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", diff));
  EXPECT_GT(model_->activation_bytes(), 0u);
}

TEST_F(Code2WavTest, ChunkedDecodeMatchesTransformers) {
  for (const auto& c : meta_["chunkings"]) {
    const int64_t chunk = c["chunk"], left = c["left_context"];
    const std::vector<float> want =
        ReadBinaryFile<float>(SpeechGolden(fmt::format("code2wav_chunk_{}_{}.f32", chunk, left)));
    std::vector<float> wav;
    ASSERT_TRUE(model_->ChunkedDecode(codes_.data(), frames_, chunk, left, &wav, &pool_).ok());
    ASSERT_EQ(wav.size(), want.size()) << chunk << "/" << left;
    EXPECT_LT(MaxAbsDiff(wav, want), 1e-4f) << chunk << "/" << left;
  }
}

// Frames pushed one at a time come out, joined, exactly as the one-shot chunked decode of all of
// them, window by window as each completes.
TEST_F(Code2WavTest, StreamingEqualsOneShot) {
  const int64_t q = model_->config().num_quantizers, spf = model_->samples_per_frame();
  for (int64_t chunk : {1, 4, 10, 39, 300}) {
    std::vector<float> one_shot;
    ASSERT_TRUE(model_
                    ->ChunkedDecode(codes_.data(), frames_, chunk, Code2Wav::kLeftContext,
                                    &one_shot, &pool_)
                    .ok());
    Code2WavStream stream(model_.get(), chunk);
    std::vector<float> streamed;
    for (int64_t f = 0; f < frames_; ++f) {
      const size_t before = streamed.size();
      ASSERT_TRUE(stream.Push(codes_.data() + f * q, &streamed, &pool_).ok());
      if ((f + 1) % chunk == 0) {
        EXPECT_GT(streamed.size(), before) << "a complete window leaves at once";
      } else {
        EXPECT_EQ(streamed.size(), before);
      }
    }
    ASSERT_TRUE(stream.Finish(&streamed, &pool_).ok());
    EXPECT_EQ(streamed, one_shot) << "chunk " << chunk;
    EXPECT_NEAR(static_cast<double>(streamed.size()), static_cast<double>(frames_ * spf),
                static_cast<double>(spf) * ((frames_ + chunk - 1) / chunk));
  }
}

TEST_F(Code2WavTest, ResultDoesNotDependOnThreads) {
  std::vector<float> one, two;
  ASSERT_TRUE(model_->Decode(codes_.data(), frames_, &one, nullptr).ok());
  ASSERT_TRUE(model_->Decode(codes_.data(), frames_, &two, &pool_).ok());
  EXPECT_EQ(one, two);
}

TEST_F(Code2WavTest, RejectsCodesOutsideTheCodebook) {
  std::vector<int32_t> bad = codes_;
  bad[5] = static_cast<int32_t>(model_->config().codebook_size);
  std::vector<float> wav;
  const Status s = model_->Decode(bad.data(), frames_, &wav, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("outside [0, 64)"), std::string::npos) << s.ToString();
  EXPECT_FALSE(model_->Decode(codes_.data(), 0, &wav, nullptr).ok());
}

}  // namespace
}  // namespace omnisage

// CodePredictor against HF transformers' code predictor generate (greedy) on the tiny checkpoint
// (tests/golden/speech/…/code_predictor.json, by tools/reference/make_speech_golden.py): the same
// codes, each step's logits within 1e-4 (float32 on both sides from the same bf16 weights; the
// fixtures measured ~1e-6), and the residual embedding sum the next talker input adds.
#include "speech/code_predictor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/weight_source.h"
#include "tensor/bf16.h"
#include "tiny_checkpoint.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

int32_t Argmax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

TEST(CodePredictorTest, MatchesTransformersGreedy) {
  auto config = LoadModelConfig(TinyCheckpointDir() + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto source = OpenCheckpointSource(TinyCheckpointDir());
  ASSERT_TRUE(source.ok());
  auto cp = CodePredictor::Load(**source, config->talker);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  const nlohmann::json golden =
      nlohmann::json::parse(std::ifstream(SpeechGolden("code_predictor.json")));
  const int64_t n = (*cp)->num_codes(), vocab = (*cp)->config().vocab_size,
                h = (*cp)->config().hidden_size;
  ASSERT_EQ(n + 1, golden["groups"].get<int64_t>());
  // Code 0's embedding is the talker's codec_embedding row.
  auto talker_embed = LoadBf16(**source, "talker.model.codec_embedding.weight",
                               {config->talker.text.vocab_size, config->talker.text.hidden_size});
  ASSERT_TRUE(talker_embed.ok());
  ThreadPool pool(2);
  float max_diff = 0;
  for (const auto& trial : golden["trials"]) {
    const std::vector<float> hidden = trial["hidden"].get<std::vector<float>>();
    const int64_t code0 = trial["code0"];
    std::vector<float> code0_embed(h);
    for (int64_t i = 0; i < h; ++i) code0_embed[i] = Bf16ToFloat(talker_embed->data[code0 * h + i]);
    std::vector<int32_t> codes(n);
    std::vector<float> sum(h, 0.0f), logits(n * vocab);
    ASSERT_TRUE((*cp)
                    ->Predict(hidden.data(), code0_embed.data(), Argmax, codes.data(), sum.data(),
                              &pool, logits.data())
                    .ok());
    EXPECT_EQ(codes, trial["codes"].get<std::vector<int32_t>>());
    for (int64_t g = 0; g < n; ++g) {
      const std::vector<float> want = trial["logits"][g].get<std::vector<float>>();
      for (int64_t v = 0; v < vocab; ++v) {
        max_diff = std::max(max_diff, std::fabs(logits[g * vocab + v] - want[v]));
      }
    }
    const std::vector<float> want_sum = trial["residual_embedding_sum"].get<std::vector<float>>();
    for (int64_t i = 0; i < h; ++i) EXPECT_NEAR(sum[i], want_sum[i], 1e-5) << i;
  }
  EXPECT_LT(max_diff, 1e-4f);
  ::testing::Test::RecordProperty("max_logit_diff", std::to_string(max_diff));
}

}  // namespace
}  // namespace omnisage

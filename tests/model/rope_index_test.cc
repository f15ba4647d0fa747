// Rotary positions of multimodal prompts against transformers' get_rope_index
// (tests/golden/audio/rope/cases.json, from tools/reference/make_audio_golden.py on the tiny
// preset's special ids). Both sides compute float32 positions in the same order, so they must be
// equal, not merely close (a video's t positions are fractional here).
#include "model/rope_index.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/presets.h"
#include "source_paths.h"

namespace omnisage {
namespace {

nlohmann::json Cases() {
  std::ifstream f(::omnisage::test_paths::SourceDir() + "/tests/golden/audio/rope/cases.json");
  return nlohmann::json::parse(f)["cases"];
}

RopeIndexMedia MediaOf(const nlohmann::json& c) {
  RopeIndexMedia m;
  if (c.contains("audio_frames")) m.audio_frames = c["audio_frames"].get<std::vector<int64_t>>();
  auto grids = [&](const char* key) {
    std::vector<MediaGrid> out;
    if (!c.contains(key)) return out;
    for (const auto& g : c[key]) out.push_back({g[0], g[1], g[2]});
    return out;
  };
  m.images = grids("images");
  m.videos = grids("videos");
  if (c.contains("video_seconds_per_grid")) {
    m.video_seconds_per_grid = c["video_seconds_per_grid"].get<std::vector<double>>();
  }
  m.use_audio_in_video = c.value("use_audio_in_video", false);
  return m;
}

class RopeIndexTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RopeIndexTest, EqualsTransformersGetRopeIndex) {
  const nlohmann::json c = Cases()[GetParam()];
  const ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  auto pos = GetRopeIndex(ids, config, MediaOf(c));
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  const auto want = c["positions"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(pos->thw.size(), 3 * want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    for (int a = 0; a < 3; ++a) {
      EXPECT_EQ(pos->thw[3 * i + a], static_cast<float>(want[i][a]))
          << "token " << i << " axis " << a;
    }
  }
  EXPECT_EQ(pos->next - static_cast<float>(ids.size()),
            static_cast<float>(c["delta"].get<double>()));
}

INSTANTIATE_TEST_SUITE_P(Golden, RopeIndexTest,
                         ::testing::Values("text", "audio", "image_audio", "video",
                                           "audio_in_video", "two_images"));

TEST(RopeIndexTest, AContinuedPromptStartsWhereTheSequenceLeftOff) {
  const ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const nlohmann::json c = Cases()["image_audio"];
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  auto first = GetRopeIndex(ids, config, MediaOf(c));
  auto later = GetRopeIndex(ids, config, MediaOf(c), 100.0f);
  ASSERT_TRUE(first.ok() && later.ok());
  for (size_t i = 0; i < first->thw.size(); ++i) EXPECT_EQ(later->thw[i], first->thw[i] + 100.0f);
  EXPECT_EQ(later->next, first->next + 100.0f);
}

TEST(RopeIndexTest, MediaThatDoNotMatchThePromptAreErrors) {
  const ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const nlohmann::json c = Cases()["image_audio"];
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  RopeIndexMedia m = MediaOf(c);
  m.audio_frames.clear();
  auto r = GetRopeIndex(ids, config, m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("audio"), std::string::npos) << r.status().message();
  m = MediaOf(c);
  m.images[0].w = 8;  // 8 tokens for the image, 6 placeholders in the prompt
  EXPECT_FALSE(GetRopeIndex(ids, config, m).ok());
}

}  // namespace
}  // namespace omnisage

// A video in the thinker's prompt against transformers 5.25 (tests/golden/video, "prompts"): the
// expanded ids Qwen3OmniMoeProcessor makes for a user turn with a video, alone and heard with its
// own sound (load_audio_from_video: <|video_pad|> and <|audio_pad|> interleaved by time), and the
// tiny thinker's get_rope_index positions for them (video t = group · second_per_grid · 13).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/file.h"
#include "model/media_tokens.h"
#include "model/presets.h"
#include "model/rope_index.h"
#include "source_paths.h"

namespace omnisage {
namespace {

const std::string kDir = ::omnisage::test_paths::SourceDir() + "/tests/golden/video/";

nlohmann::json Prompts() {
  auto text = ReadFileToString(kDir + "meta.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? nlohmann::json::parse(*text)["prompts"] : nlohmann::json();
}

TEST(VideoPromptTest, PlaceholdersAsTheProcessorLaysThemOut) {
  const ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  const SpecialTokens& tok = config.tokens;
  const nlohmann::json prompts = Prompts();
  ASSERT_EQ(prompts.size(), 2u);
  for (const auto& c : prompts) {
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    const auto g = c["grid_thw"].get<std::vector<int64_t>>();
    const int64_t merge = config.vision.spatial_merge_size;
    const int64_t video_tokens = g[0] * g[1] * g[2] / (merge * merge);
    const auto vs = std::find(ids.begin(), ids.end(), tok.vision_start) - ids.begin();
    ASSERT_LT(vs, static_cast<ptrdiff_t>(ids.size()));
    std::vector<int64_t> want;
    if (!c.contains("audio_frames")) {
      want.assign(static_cast<size_t>(video_tokens), tok.video_token);
      want.push_back(tok.vision_end);
      const std::vector<int64_t> got(ids.begin() + vs + 1,
                                     ids.begin() + vs + 1 + static_cast<ptrdiff_t>(want.size()));
      EXPECT_EQ(got, want) << c["name"];
      continue;
    }
    const int64_t audio_tokens =
        AudioTokenCount(c["audio_frames"].get<int64_t>(), config.audio.n_window);
    // The processor's second_per_grid is the Python float 2 / fps (here 2 / 2).
    const std::vector<bool> order = AudioInVideoOrder(g[0], g[1], g[2], merge, 2.0 / 2.0,
                                                      config.position_id_per_seconds, audio_tokens);
    want.push_back(tok.audio_start);
    for (bool is_video : order) want.push_back(is_video ? tok.video_token : tok.audio_token);
    want.push_back(tok.audio_end);
    want.push_back(tok.vision_end);
    const std::vector<int64_t> got(ids.begin() + vs + 1,
                                   ids.begin() + vs + 1 + static_cast<ptrdiff_t>(want.size()));
    EXPECT_EQ(got, want) << c["name"];
    // Both kinds interleave (the test is not trivially all video then all audio).
    EXPECT_TRUE(order.front());
    EXPECT_FALSE(order[static_cast<size_t>(g[1] * g[2] / (merge * merge))]);
  }
}

TEST(VideoPromptTest, PositionsEqualTransformersGetRopeIndex) {
  const ModelConfig config = PresetConfig(Preset::kTiny, Arch::kQwen3OmniMoe);
  for (const auto& c : Prompts()) {
    const auto ids64 = c["ids"].get<std::vector<int64_t>>();
    const std::vector<int32_t> ids(ids64.begin(), ids64.end());
    const auto g = c["grid_thw"].get<std::vector<int64_t>>();
    RopeIndexMedia media;
    media.videos.push_back(MediaGrid{g[0], g[1], g[2]});
    media.video_seconds_per_grid.push_back(c["second_per_grid"].get<double>());
    if (c.contains("audio_frames")) {
      media.audio_frames.push_back(c["audio_frames"].get<int64_t>());
      media.use_audio_in_video = true;
    }
    auto pos = GetRopeIndex(ids, config, media);
    ASSERT_TRUE(pos.ok()) << c["name"] << ": " << pos.status().ToString();
    const auto want = c["positions"].get<std::vector<std::vector<float>>>();
    ASSERT_EQ(pos->thw.size(), want.size() * 3);
    for (size_t i = 0; i < want.size(); ++i) {
      for (int a = 0; a < 3; ++a) {
        ASSERT_EQ(pos->thw[i * 3 + a], want[i][a]) << c["name"] << " token " << i << " axis " << a;
      }
    }
    EXPECT_EQ(pos->next - static_cast<float>(ids.size()), c["delta"].get<float>()) << c["name"];
  }
}

}  // namespace
}  // namespace omnisage

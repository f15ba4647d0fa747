#include "model/rope_index.h"

#include <fmt/format.h>

#include <algorithm>

namespace omnisage {
namespace {

// The reference builds a list of position blocks ([3, k] each) and starts every block after a
// media item at (the previous block's max + 1); this keeps the same list, flattened.
class Blocks {
 public:
  explicit Blocks(float start, size_t n) : start_(start) { thw_.reserve(3 * n); }

  // The index the next block starts at: the last block's max + 1, or `start` for the first.
  float Next() const { return empty_ ? start_ : last_max_ + 1.0f; }
  // A block of `k` columns where column j = (t, h, w) = (base + j) on every axis.
  void Running(int64_t k, float base) {
    Begin();
    for (int64_t j = 0; j < k; ++j) Column(static_cast<float>(j) + base, 0, 0, true);
  }
  void Begin() {
    empty_ = false;
    last_max_ = -1e30f;
  }
  void Column(float t, float h, float w, bool same = false) {
    if (same) h = w = t;
    thw_.insert(thw_.end(), {t, h, w});
    last_max_ = std::max({last_max_, t, h, w});
  }
  size_t columns() const { return thw_.size() / 3; }
  std::vector<float> Take() { return std::move(thw_); }

 private:
  float start_;
  bool empty_ = true;
  float last_max_ = 0;
  std::vector<float> thw_;
};

// get_llm_pos_ids_for_vision: t index per frame group, then merged rows and columns, + start.
std::vector<float> VisionPositions(const std::vector<float>& t_index, const MediaGrid& g,
                                   int64_t merge, float start) {
  const int64_t gh = g.h / merge, gw = g.w / merge;
  std::vector<float> thw;
  thw.reserve(3 * t_index.size() * gh * gw);
  for (float t : t_index) {
    for (int64_t h = 0; h < gh; ++h) {
      for (int64_t w = 0; w < gw; ++w) {
        thw.insert(thw.end(),
                   {t + start, static_cast<float>(h) + start, static_cast<float>(w) + start});
      }
    }
  }
  return thw;
}

}  // namespace

StatusOr<RopePositions> GetRopeIndex(const std::vector<int32_t>& ids, const ModelConfig& config,
                                     const RopeIndexMedia& media, float start) {
  const SpecialTokens& tok = config.tokens;
  const int64_t n = static_cast<int64_t>(ids.size());
  RopePositions out;
  if (media.images.empty() && media.videos.empty()) {
    // The reference's text branch (also taken for audio-only prompts): the token index.
    out.thw.resize(3 * n);
    for (int64_t i = 0; i < n; ++i) {
      const float p = start + static_cast<float>(i);
      out.thw[3 * i] = out.thw[3 * i + 1] = out.thw[3 * i + 2] = p;
    }
    out.next = start + static_cast<float>(n);
    return out;
  }
  const bool aiv = media.use_audio_in_video;
  const int64_t merge = config.vision.spatial_merge_size;
  const float pps = static_cast<float>(config.position_id_per_seconds);
  int64_t audio_nums = 0, image_nums = 0, video_nums = 0;
  bool has_vision_pad = false, has_audio_pad = false;
  for (int64_t i = 0; i < n; ++i) {
    audio_nums += ids[i] == tok.audio_start;
    has_vision_pad |= ids[i] == tok.image_token || ids[i] == tok.video_token;
    has_audio_pad |= ids[i] == tok.audio_token;
    if (ids[i] == tok.vision_start && i + 1 < n) {
      image_nums += ids[i + 1] == tok.image_token;
      video_nums += ids[i + 1] == (aiv ? tok.audio_start : tok.video_token);
    }
  }
  auto count_error = [&](const char* what, int64_t in_ids, size_t given) {
    return InvalidArgument(
        fmt::format("the prompt holds {} {} but {} were given", in_ids, what, given));
  };
  if (image_nums != static_cast<int64_t>(media.images.size())) {
    return count_error("images", image_nums, media.images.size());
  }
  if (video_nums != static_cast<int64_t>(media.videos.size()) ||
      media.video_seconds_per_grid.size() != media.videos.size()) {
    return count_error("videos", video_nums, media.videos.size());
  }
  if (audio_nums != static_cast<int64_t>(media.audio_frames.size())) {
    return count_error("audio clips", audio_nums, media.audio_frames.size());
  }
  const int64_t items = aiv ? image_nums + audio_nums : image_nums + video_nums + audio_nums;
  int64_t remain_images = image_nums, remain_videos = video_nums, remain_audios = audio_nums;
  size_t image_idx = 0, video_idx = 0, audio_idx = 0;
  int64_t st = 0;
  Blocks blocks(start, n);
  auto find = [&](int32_t id, int64_t from) -> int64_t {
    for (int64_t i = from; i < n; ++i) {
      if (ids[i] == id) return i;
    }
    return -1;
  };
  auto video_t = [&](size_t v) {
    std::vector<float> t(media.videos[v].t);
    const float spg = static_cast<float>(media.video_seconds_per_grid[v]);
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) * spg * pps;
    return t;
  };
  for (int64_t item = 0; item < items; ++item) {
    float st_idx = blocks.Next();
    int64_t ed_vision = n + 1, ed_audio = n + 1;
    if (has_vision_pad && (remain_videos > 0 || remain_images > 0))
      ed_vision = find(tok.vision_start, st);
    if (has_audio_pad && remain_audios > 0) ed_audio = find(tok.audio_start, st);
    if (ed_vision < 0 || ed_audio < 0) {
      return InvalidArgument(fmt::format("media item {}: its start token is missing", item));
    }
    const int64_t min_ed = std::min(ed_vision, ed_audio);
    if (min_ed > n) return InvalidArgument(fmt::format("media item {}: no placeholder", item));
    const int64_t text_len = min_ed - st;
    if (text_len != 0) {
      blocks.Running(text_len, st_idx);
      st_idx += static_cast<float>(text_len);
    }
    const bool audio_in_video = min_ed == ed_vision && ed_vision + 1 == ed_audio;
    const int64_t bos_len = audio_in_video ? 2 : 1, eos_len = bos_len;
    blocks.Running(bos_len, st_idx);
    st_idx += static_cast<float>(bos_len);
    const int32_t next_id = min_ed + 1 < n ? ids[min_ed + 1] : -1;
    int64_t body = 0;
    if (min_ed == ed_audio) {
      const int64_t audio_len =
          AudioTokenCount(media.audio_frames[audio_idx], config.audio.n_window);
      blocks.Running(audio_len, st_idx);
      body = audio_len;
      ++audio_idx, --remain_audios;
    } else if (next_id == tok.image_token || next_id == tok.video_token) {
      const bool image = next_id == tok.image_token;
      if ((image && image_idx >= media.images.size()) ||
          (!image && video_idx >= media.videos.size())) {
        return InvalidArgument(fmt::format("media item {}: more placeholders than media", item));
      }
      const MediaGrid& g = image ? media.images[image_idx] : media.videos[video_idx];
      std::vector<float> t_index(g.t);
      if (image) {
        for (int64_t i = 0; i < g.t; ++i) t_index[i] = static_cast<float>(i) * 1.0f * pps;
      } else {
        t_index = video_t(video_idx);
      }
      const std::vector<float> thw = VisionPositions(t_index, g, merge, st_idx);
      blocks.Begin();
      for (size_t j = 0; j < thw.size(); j += 3) blocks.Column(thw[j], thw[j + 1], thw[j + 2]);
      body = g.t * g.h * g.w / (merge * merge);
      if (image) {
        ++image_idx, --remain_images;
      } else {
        ++video_idx, --remain_videos;
      }
    } else if (audio_in_video) {
      if (video_idx >= media.videos.size()) {
        return InvalidArgument(fmt::format("media item {}: more placeholders than media", item));
      }
      const int64_t audio_len =
          AudioTokenCount(media.audio_frames[audio_idx], config.audio.n_window);
      const MediaGrid& g = media.videos[video_idx];
      const std::vector<float> video = VisionPositions(video_t(video_idx), g, merge, st_idx);
      const int64_t video_len = static_cast<int64_t>(video.size() / 3);
      // Interleaved by time, one column per block as the reference appends them.
      int64_t vi = 0, ai = 0;
      auto video_column = [&](int64_t j) {
        blocks.Begin();
        blocks.Column(video[3 * j], video[3 * j + 1], video[3 * j + 2]);
      };
      auto audio_column = [&](int64_t j) {
        blocks.Begin();
        blocks.Column(static_cast<float>(j) + st_idx, 0, 0, true);
      };
      while (vi < video_len && ai < audio_len) {
        if (video[3 * vi] <= static_cast<float>(ai) + st_idx) {
          video_column(vi++);
        } else {
          audio_column(ai++);
        }
      }
      if (vi < video_len) {  // the rest as one block
        blocks.Begin();
        for (; vi < video_len; ++vi)
          blocks.Column(video[3 * vi], video[3 * vi + 1], video[3 * vi + 2]);
      }
      if (ai < audio_len) {
        blocks.Begin();
        for (; ai < audio_len; ++ai) blocks.Column(static_cast<float>(ai) + st_idx, 0, 0, true);
      }
      body = audio_len + g.t * g.h * g.w / (merge * merge);
      ++audio_idx, ++video_idx, --remain_videos, --remain_audios;
    } else {
      return InvalidArgument(fmt::format(
          "media item {}: <|vision_start|> at {} is not followed by a placeholder", item, min_ed));
    }
    // The item's placeholders must be exactly `body` pad tokens between its start and end tokens
    // (the reference would silently misplace every later position).
    const int64_t body_begin = min_ed + bos_len, body_end = body_begin + body;
    bool pads = body_end + eos_len <= n;
    for (int64_t i = body_begin; pads && i < body_end; ++i) {
      pads = ids[i] == tok.audio_token || ids[i] == tok.image_token || ids[i] == tok.video_token;
    }
    if (pads && body_end < n)
      pads = ids[body_end] == tok.audio_end || ids[body_end] == tok.vision_end;
    if (!pads) {
      return InvalidArgument(fmt::format(
          "media item {}: expected {} placeholder tokens from position {}, the prompt differs",
          item, body, body_begin));
    }
    st += text_len + bos_len + body + eos_len;
    blocks.Running(eos_len, blocks.Next());
  }
  if (st < n) blocks.Running(n - st, blocks.Next());
  if (static_cast<int64_t>(blocks.columns()) != n) {
    return InvalidArgument(fmt::format(
        "the prompt's {} tokens do not match its media ({} positions): a placeholder count differs "
        "from its item's size",
        n, blocks.columns()));
  }
  out.thw = blocks.Take();
  float max = start - 1.0f;
  for (float v : out.thw) max = std::max(max, v);
  out.next = max + 1.0f;
  return out;
}

}  // namespace omnisage

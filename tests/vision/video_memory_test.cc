// A long video is decoded, resized and patchified frame by frame: the peak memory grows by the
// output and a few frames, not by the video. The test writes a 15-second, 1500-frame 320×240
// MPEG-4 video (345 MB of RGB frames if they were all held) with libavcodec, samples it at
// 0.5 fps (6 frames, 10 MB of patches) and checks the process's peak RSS.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "media/video_file.h"
#include "util/proc_memory.h"
#include "vision/video_processor.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace omnisage {
namespace {

constexpr int kWidth = 320, kHeight = 240, kFps = 100, kFrames = 1500;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp/") + "video_memory_test_" + name;
}

// Writes kFrames of a moving gradient as MPEG-4 part 2 in AVI. Returns false on any failure.
bool WriteLongVideo(const std::string& path) {
  AVFormatContext* fmt = nullptr;
  if (avformat_alloc_output_context2(&fmt, nullptr, "avi", path.c_str()) < 0) return false;
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  AVStream* st = avformat_new_stream(fmt, nullptr);
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = kWidth;
  enc->height = kHeight;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = AVRational{1, kFps};
  enc->framerate = AVRational{kFps, 1};
  enc->gop_size = 25;
  enc->bit_rate = 400000;
  bool ok = avcodec_open2(enc, codec, nullptr) >= 0 &&
            avcodec_parameters_from_context(st->codecpar, enc) >= 0;
  st->time_base = enc->time_base;
  ok = ok && avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE) >= 0 &&
       avformat_write_header(fmt, nullptr) >= 0;
  AVFrame* frame = av_frame_alloc();
  frame->format = enc->pix_fmt;
  frame->width = kWidth;
  frame->height = kHeight;
  ok = ok && av_frame_get_buffer(frame, 0) >= 0;
  AVPacket* pkt = av_packet_alloc();
  auto drain = [&]() {
    while (avcodec_receive_packet(enc, pkt) == 0) {
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      ok = ok && av_interleaved_write_frame(fmt, pkt) >= 0;
    }
  };
  for (int i = 0; ok && i < kFrames; ++i) {
    ok = av_frame_make_writable(frame) >= 0;
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x)
        frame->data[0][y * frame->linesize[0] + x] = (x + y + i) & 255;
    }
    for (int y = 0; y < kHeight / 2; ++y) {
      for (int x = 0; x < kWidth / 2; ++x) {
        frame->data[1][y * frame->linesize[1] + x] = (128 + y + i) & 255;
        frame->data[2][y * frame->linesize[2] + x] = (64 + x + 3 * i) & 255;
      }
    }
    frame->pts = i;
    ok = ok && avcodec_send_frame(enc, frame) >= 0;
    drain();
  }
  avcodec_send_frame(enc, nullptr);
  drain();
  ok = ok && av_write_trailer(fmt) >= 0;
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  avio_closep(&fmt->pb);
  avformat_free_context(fmt);
  return ok;
}

TEST(VideoMemoryTest, LongVideoPeakIsBoundedByTheOutput) {
  const std::string path = TempPath("long.avi");
  ASSERT_TRUE(WriteLongVideo(path));
  auto info = ProbeVideo(path);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->num_frames, kFrames);

  VideoProcessorConfig config = VideoConfigFor(ImageProcessorConfig{});
  config.fps = 0.5;
  const uint64_t before = CurrentRssBytes();
  auto patches = PreprocessVideo(path, config);
  const uint64_t peak = PeakRssBytes();
  ASSERT_TRUE(patches.ok()) << patches.status().ToString();
  EXPECT_EQ(patches->frame_indices.size(), 6u);
  const uint64_t output = patches->pixels.size() * sizeof(float);
  const uint64_t all_frames = uint64_t{kFrames} * kWidth * kHeight * 3;
  // Decoder state, a few frames and the libraries' buffers: tens of MB, far below the frames.
  const uint64_t bound = output + (64ull << 20);
  EXPECT_LT(peak - std::min(peak, before), bound)
      << "peak " << peak << " before " << before << " output " << output;
  EXPECT_LT(bound, all_frames / 3);
  std::printf("peak RSS grew by %.1f MiB (output %.1f MiB, all frames %.1f MiB)\n",
              static_cast<double>(peak - std::min(peak, before)) / (1 << 20),
              static_cast<double>(output) / (1 << 20), static_cast<double>(all_frames) / (1 << 20));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace omnisage

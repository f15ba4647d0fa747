// Video files into the RGB frames and the 16 kHz mono sound track the reference pipeline gets.
//
// transformers 5.25 (Qwen2VLVideoProcessor.fetch_videos, load_audio for load_audio_from_video)
// decodes videos with torchcodec, which runs the system's FFmpeg libraries; this file drives the
// same libraries (libavformat, libavcodec, libswscale, libavfilter, libswresample) the same way,
// so with the same FFmpeg the frames and samples are bit-identical:
//
//   - the stream is FFmpeg's best video (or audio) stream (av_find_best_stream);
//   - metadata as torchcodec's seek_mode="exact": every packet of the stream is read first
//     (packets flagged AV_PKT_FLAG_DISCARD skipped); num_frames = their count, the stream spans
//     [min pts, max(pts + duration)] and average_fps = num_frames / that span in seconds;
//   - frame i is the packet with the i-th smallest pts (pts, or dts when pts is unset); decoded
//     frames are matched to it by their pts;
//   - RGB24 conversion: swscale (flags 0, the frame's colour matrix and range set through
//     sws_setColorspaceDetails) when the width is a multiple of 32, otherwise a libavfilter graph
//     "buffer → copy → buffersink(rgb24)" (the scale filter FFmpeg inserts does the conversion);
//   - the sound track: every frame through libswresample to float mono at 16 kHz
//     (swr_alloc_set_opts2 with the default mono layout, no options), then the resampler's tail.
//
// Frames are decoded one at a time and handed to a callback: a long video never holds more than
// one decoded frame here (bounded memory; see ForEachVideoFrame).
//
// Errors name the file: missing or unreadable, not a container FFmpeg knows, no video stream, a
// codec this FFmpeg cannot decode, no decodable frame, a frame the index promised that never
// decoded (a truncated file), no audio stream when the sound track is asked for.
//
// Not thread-safe per call (FFmpeg contexts are local to each call); calls on different files may
// run in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "media/image_file.h"
#include "util/status.h"

namespace omnisage {

// What torchcodec's VideoDecoder(seek_mode="exact").metadata reports for the video stream.
struct VideoInfo {
  int width = 0;
  int height = 0;
  int64_t num_frames = 0;  // packets of the stream
  double average_fps = 0;  // num_frames / duration_seconds (0 when the span is 0)
  double duration_seconds = 0;
  double begin_seconds = 0;  // the smallest pts, in seconds
  std::string container;     // FFmpeg's short name, e.g. "matroska,webm"
  std::string codec;         // e.g. "h264"
  bool has_audio = false;    // the file has an audio stream
};

// Reads every packet of the best video stream (no decoding). Errors as above.
StatusOr<VideoInfo> ProbeVideo(const std::string& path);

// Decodes the frames at `indices` (ascending, each < num_frames, duplicates allowed) in order and
// calls `on_frame(index, rgb)` once per entry of `indices`; the frame is valid during the call
// only. Stops at the first error `on_frame` returns. A frame that does not decode (a truncated or
// corrupt file) is an error naming the file and the frame.
Status ForEachVideoFrame(const std::string& path, const std::vector<int64_t>& indices,
                         const std::function<Status(int64_t, const DecodedImage&)>& on_frame);

// The best audio stream as float mono samples at `rate` Hz, as torchcodec's
// AudioDecoder(path, sample_rate=rate, num_channels=1).get_all_samples(). No audio stream is a
// NotFound error naming the file.
StatusOr<std::vector<float>> LoadVideoAudio(const std::string& path, int rate);

}  // namespace omnisage

#include "media/video_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace omnisage {
namespace {

std::string AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  return buf;
}

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct GraphFree {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};
struct SwrFree {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecCloser>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;

StatusOr<FormatPtr> OpenContainer(const std::string& path) {
  // FFmpeg's own log lines would interleave with the CLI's output; errors come back as Status.
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_QUIET); });
  AVFormatContext* raw = nullptr;
  const int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    if (rc == AVERROR(ENOENT)) return NotFound(fmt::format("{}: no such file", path));
    return InvalidArgument(
        fmt::format("{}: not a video container FFmpeg can read ({})", path, AvError(rc)));
  }
  FormatPtr ctx(raw);
  const int info = avformat_find_stream_info(ctx.get(), nullptr);
  if (info < 0) {
    return InvalidArgument(
        fmt::format("{}: unreadable stream information ({})", path, AvError(info)));
  }
  return ctx;
}

// The best stream of `type` and a decoder opened for it.
struct OpenedStream {
  int index = -1;
  CodecPtr codec;
};

StatusOr<OpenedStream> OpenBestStream(AVFormatContext* ctx, AVMediaType type,
                                      const std::string& path) {
  const AVCodec* decoder = nullptr;
  const int index = av_find_best_stream(ctx, type, -1, -1, &decoder, 0);
  const char* what = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio";
  if (index == AVERROR_STREAM_NOT_FOUND) {
    return NotFound(fmt::format("{}: the file has no {} stream", path, what));
  }
  if (index < 0 || decoder == nullptr) {
    const AVCodecParameters* par = nullptr;
    for (unsigned i = 0; i < ctx->nb_streams; ++i) {
      if (ctx->streams[i]->codecpar->codec_type == type) par = ctx->streams[i]->codecpar;
    }
    const char* name = par != nullptr ? avcodec_get_name(par->codec_id) : "unknown";
    return InvalidArgument(
        fmt::format("{}: the {} codec '{}' is not supported by this FFmpeg", path, what, name));
  }
  OpenedStream s;
  s.index = index;
  s.codec.reset(avcodec_alloc_context3(decoder));
  if (!s.codec) return Internal("avcodec_alloc_context3 failed");
  int rc = avcodec_parameters_to_context(s.codec.get(), ctx->streams[index]->codecpar);
  if (rc >= 0) {
    s.codec->thread_count = 0;  // FFmpeg chooses, as torchcodec's num_ffmpeg_threads=0
    rc = avcodec_open2(s.codec.get(), decoder, nullptr);
  }
  if (rc < 0) {
    return InvalidArgument(fmt::format("{}: cannot open the {} decoder '{}' ({})", path, what,
                                       decoder->name, AvError(rc)));
  }
  return s;
}

int64_t PtsOrDts(int64_t pts, int64_t dts) { return pts != AV_NOPTS_VALUE ? pts : dts; }

// Every packet's pts of stream `index`, sorted, plus the span (torchcodec's exact-mode scan).
struct StreamScan {
  std::vector<int64_t> pts;
  int64_t begin = 0, end = 0;
};

StatusOr<StreamScan> ScanPackets(AVFormatContext* ctx, int index, const std::string& path) {
  StreamScan scan;
  PacketPtr pkt(av_packet_alloc());
  bool any = false;
  while (true) {
    const int rc = av_read_frame(ctx, pkt.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      return InvalidArgument(fmt::format("{}: cannot read a packet ({})", path, AvError(rc)));
    }
    if (pkt->stream_index == index && (pkt->flags & AV_PKT_FLAG_DISCARD) == 0) {
      const int64_t p = PtsOrDts(pkt->pts, pkt->dts);
      scan.begin = any ? std::min(scan.begin, p) : p;
      scan.end = any ? std::max(scan.end, p + pkt->duration) : p + pkt->duration;
      any = true;
      scan.pts.push_back(p);
    }
    av_packet_unref(pkt.get());
  }
  std::stable_sort(scan.pts.begin(), scan.pts.end());
  return scan;
}

// Frame → packed RGB24, as torchcodec's CPU device interface does it.
class RgbConverter {
 public:
  RgbConverter(AVRational time_base, std::string path)
      : time_base_(time_base), path_(std::move(path)) {}

  Status Convert(const AVFrame& f, DecodedImage& out) {
    out.width = f.width;
    out.height = f.height;
    out.rgb.resize(static_cast<size_t>(f.width) * f.height * 3);
    if (f.width % 32 == 0) return ViaSwscale(f, out);
    return ViaFilterGraph(f, out);
  }

 private:
  Status ViaSwscale(const AVFrame& f, DecodedImage& out) {
    const auto fmt = static_cast<AVPixelFormat>(f.format);
    if (!sws_ || sws_w_ != f.width || sws_h_ != f.height || sws_fmt_ != fmt ||
        sws_space_ != f.colorspace || sws_range_ != f.color_range) {
      sws_.reset(sws_getContext(f.width, f.height, fmt, f.width, f.height, AV_PIX_FMT_RGB24, 0,
                                nullptr, nullptr, nullptr));
      if (!sws_) {
        return InvalidArgument(fmt::format("{}: cannot convert pixel format '{}' to RGB", path_,
                                           av_get_pix_fmt_name(fmt)));
      }
      int *inv_table = nullptr, *table = nullptr;
      int src_range = 0, dst_range = 0, brightness = 0, contrast = 0, saturation = 0;
      if (sws_getColorspaceDetails(sws_.get(), &inv_table, &src_range, &table, &dst_range,
                                   &brightness, &contrast, &saturation) == -1) {
        return Internal("sws_getColorspaceDetails failed");
      }
      if (f.color_range != AVCOL_RANGE_UNSPECIFIED) src_range = f.color_range == AVCOL_RANGE_JPEG;
      const int* coefficients = sws_getCoefficients(f.colorspace);
      // Returns -1 for RGB sources; torchcodec tolerates that too (nothing to set).
      sws_setColorspaceDetails(sws_.get(), coefficients, src_range, coefficients, dst_range,
                               brightness, contrast, saturation);
      sws_w_ = f.width;
      sws_h_ = f.height;
      sws_fmt_ = fmt;
      sws_space_ = f.colorspace;
      sws_range_ = f.color_range;
    }
    uint8_t* dst[4] = {out.rgb.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {f.width * 3, 0, 0, 0};
    const int h = sws_scale(sws_.get(), f.data, f.linesize, 0, f.height, dst, dst_stride);
    if (h != f.height) return Internal(fmt::format("{}: swscale converted {} rows", path_, h));
    return Status::Ok();
  }

  Status BuildGraph(const AVFrame& f) {
    graph_.reset(avfilter_graph_alloc());
    if (!graph_) return Internal("avfilter_graph_alloc failed");
    graph_->nb_threads = 0;
    std::unique_ptr<AVBufferSrcParameters, decltype(&av_free)> params(
        av_buffersrc_parameters_alloc(), &av_free);
    params->format = f.format;
    params->width = f.width;
    params->height = f.height;
    params->sample_aspect_ratio = f.sample_aspect_ratio;
    params->time_base = time_base_;
    src_ = avfilter_graph_alloc_filter(graph_.get(), avfilter_get_by_name("buffer"), "in");
    if (src_ == nullptr || av_buffersrc_parameters_set(src_, params.get()) < 0 ||
        avfilter_init_str(src_, nullptr) < 0) {
      return Internal(fmt::format("{}: cannot create the filter graph's source", path_));
    }
    sink_ = avfilter_graph_alloc_filter(graph_.get(), avfilter_get_by_name("buffersink"), "out");
    const AVPixelFormat pix_fmts[] = {AV_PIX_FMT_RGB24, AV_PIX_FMT_NONE};
    if (sink_ == nullptr ||
        av_opt_set_int_list(sink_, "pix_fmts", pix_fmts, AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN) <
            0 ||
        avfilter_init_str(sink_, nullptr) < 0) {
      return Internal(fmt::format("{}: cannot create the filter graph's sink", path_));
    }
    AVFilterInOut* outputs = avfilter_inout_alloc();
    AVFilterInOut* inputs = avfilter_inout_alloc();
    outputs->name = av_strdup("in");
    outputs->filter_ctx = src_;
    outputs->pad_idx = 0;
    outputs->next = nullptr;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = sink_;
    inputs->pad_idx = 0;
    inputs->next = nullptr;
    int rc = avfilter_graph_parse_ptr(graph_.get(), "copy", &inputs, &outputs, nullptr);
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    if (rc >= 0) rc = avfilter_graph_config(graph_.get(), nullptr);
    if (rc < 0) {
      return InvalidArgument(fmt::format("{}: cannot convert pixel format '{}' to RGB ({})", path_,
                                         av_get_pix_fmt_name(static_cast<AVPixelFormat>(f.format)),
                                         AvError(rc)));
    }
    g_w_ = f.width;
    g_h_ = f.height;
    g_fmt_ = f.format;
    g_sar_ = f.sample_aspect_ratio;
    return Status::Ok();
  }

  Status ViaFilterGraph(const AVFrame& f, DecodedImage& out) {
    if (!graph_ || g_w_ != f.width || g_h_ != f.height || g_fmt_ != f.format ||
        av_cmp_q(g_sar_, f.sample_aspect_ratio) != 0) {
      OMNI_RETURN_IF_ERROR(BuildGraph(f));
    }
    FramePtr in(av_frame_clone(&f));
    if (!in) return Internal("av_frame_clone failed");
    int rc = av_buffersrc_write_frame(src_, in.get());
    FramePtr rgb(av_frame_alloc());
    if (rc >= 0) rc = av_buffersink_get_frame(sink_, rgb.get());
    if (rc < 0) {
      return InvalidArgument(fmt::format("{}: RGB conversion failed ({})", path_, AvError(rc)));
    }
    if (rgb->width != f.width || rgb->height != f.height || rgb->format != AV_PIX_FMT_RGB24) {
      return Internal(fmt::format("{}: the filter graph changed the frame's size", path_));
    }
    for (int y = 0; y < f.height; ++y) {
      std::memcpy(out.rgb.data() + static_cast<size_t>(y) * f.width * 3,
                  rgb->data[0] + static_cast<ptrdiff_t>(y) * rgb->linesize[0],
                  static_cast<size_t>(f.width) * 3);
    }
    return Status::Ok();
  }

  AVRational time_base_;
  std::string path_;
  std::unique_ptr<SwsContext, SwsFree> sws_;
  int sws_w_ = 0, sws_h_ = 0;
  AVPixelFormat sws_fmt_ = AV_PIX_FMT_NONE;
  AVColorSpace sws_space_ = AVCOL_SPC_UNSPECIFIED;
  AVColorRange sws_range_ = AVCOL_RANGE_UNSPECIFIED;
  std::unique_ptr<AVFilterGraph, GraphFree> graph_;
  AVFilterContext* src_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  int g_w_ = 0, g_h_ = 0, g_fmt_ = -1;
  AVRational g_sar_{0, 1};
};

// Sends every packet of `stream` (then the flush) through `codec` and calls `on_frame` for each
// decoded frame; stops early when `on_frame` sets *done.
Status DecodeStream(AVFormatContext* ctx, const OpenedStream& stream, const std::string& path,
                    const std::function<Status(const AVFrame&, bool*)>& on_frame) {
  PacketPtr pkt(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  bool done = false;
  auto drain = [&]() -> Status {
    while (!done) {
      const int rc = avcodec_receive_frame(stream.codec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
      if (rc < 0) {
        return InvalidArgument(fmt::format("{}: cannot decode a frame ({})", path, AvError(rc)));
      }
      Status s = on_frame(*frame, &done);
      av_frame_unref(frame.get());
      OMNI_RETURN_IF_ERROR(s);
    }
    return Status::Ok();
  };
  while (!done) {
    const int rc = av_read_frame(ctx, pkt.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0)
      return InvalidArgument(fmt::format("{}: cannot read a packet ({})", path, AvError(rc)));
    if (pkt->stream_index != stream.index) {
      av_packet_unref(pkt.get());
      continue;
    }
    const int sent = avcodec_send_packet(stream.codec.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (sent < 0 && sent != AVERROR(EAGAIN)) {
      return InvalidArgument(fmt::format(
          "{}: corrupt or truncated data (the decoder refused a packet: {})", path, AvError(sent)));
    }
    OMNI_RETURN_IF_ERROR(drain());
  }
  if (done) return Status::Ok();
  avcodec_send_packet(stream.codec.get(), nullptr);
  return drain();
}

}  // namespace

StatusOr<VideoInfo> ProbeVideo(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(FormatPtr ctx, OpenContainer(path));
  OMNI_ASSIGN_OR_RETURN(OpenedStream stream, OpenBestStream(ctx.get(), AVMEDIA_TYPE_VIDEO, path));
  OMNI_ASSIGN_OR_RETURN(StreamScan scan, ScanPackets(ctx.get(), stream.index, path));
  const AVStream* st = ctx->streams[stream.index];
  VideoInfo info;
  info.width = st->codecpar->width;
  info.height = st->codecpar->height;
  info.num_frames = static_cast<int64_t>(scan.pts.size());
  const double tb = av_q2d(st->time_base);
  info.begin_seconds = static_cast<double>(scan.begin) * tb;
  info.duration_seconds = static_cast<double>(scan.end) * tb - info.begin_seconds;
  if (info.num_frames == 0) info.begin_seconds = info.duration_seconds = 0;
  if (info.duration_seconds != 0.0) {
    info.average_fps = static_cast<double>(info.num_frames) / info.duration_seconds;
  } else if (st->avg_frame_rate.den != 0) {
    info.average_fps = av_q2d(st->avg_frame_rate);
  }
  info.container = ctx->iformat->name;
  info.codec = avcodec_get_name(st->codecpar->codec_id);
  info.has_audio = av_find_best_stream(ctx.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) >= 0;
  if (info.num_frames == 0) {
    return InvalidArgument(fmt::format("{}: the video stream has no frames", path));
  }
  return info;
}

Status ForEachVideoFrame(const std::string& path, const std::vector<int64_t>& indices,
                         const std::function<Status(int64_t, const DecodedImage&)>& on_frame) {
  if (indices.empty()) return Status::Ok();
  OMNI_ASSIGN_OR_RETURN(FormatPtr ctx, OpenContainer(path));
  OMNI_ASSIGN_OR_RETURN(OpenedStream stream, OpenBestStream(ctx.get(), AVMEDIA_TYPE_VIDEO, path));
  OMNI_ASSIGN_OR_RETURN(StreamScan scan, ScanPackets(ctx.get(), stream.index, path));
  const int64_t n = static_cast<int64_t>(scan.pts.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= n || (i > 0 && indices[i] < indices[i - 1])) {
      return InvalidArgument(fmt::format("{}: frame index {} is not in [0, {}) or not ascending",
                                         path, indices[i], n));
    }
  }
  const int rc = avformat_seek_file(ctx.get(), -1, INT64_MIN, 0, 0, 0);
  if (rc < 0)
    return InvalidArgument(fmt::format("{}: cannot seek to the start ({})", path, AvError(rc)));
  avcodec_flush_buffers(stream.codec.get());

  RgbConverter converter(ctx->streams[stream.index]->time_base, path);
  DecodedImage rgb;
  rgb.format = "video";
  size_t next = 0;
  Status decoded =
      DecodeStream(ctx.get(), stream, path, [&](const AVFrame& f, bool* done) -> Status {
        const int64_t pts = PtsOrDts(f.pts, f.pkt_dts);
        bool converted = false;
        while (next < indices.size() && scan.pts[static_cast<size_t>(indices[next])] <= pts) {
          if (!converted) {
            OMNI_RETURN_IF_ERROR(converter.Convert(f, rgb));
            converted = true;
          }
          OMNI_RETURN_IF_ERROR(on_frame(indices[next], rgb));
          ++next;
        }
        *done = next == indices.size();
        return Status::Ok();
      });
  OMNI_RETURN_IF_ERROR(decoded);
  if (next < indices.size()) {
    return InvalidArgument(fmt::format(
        "{}: frame {} of {} did not decode (truncated or corrupt file)", path, indices[next], n));
  }
  return Status::Ok();
}

StatusOr<std::vector<float>> LoadVideoAudio(const std::string& path, int rate) {
  OMNI_ASSIGN_OR_RETURN(FormatPtr ctx, OpenContainer(path));
  auto opened = OpenBestStream(ctx.get(), AVMEDIA_TYPE_AUDIO, path);
  if (!opened.ok()) {
    if (opened.status().code() == StatusCode::kNotFound) {
      return NotFound(
          fmt::format("{}: the video has no audio track (--use-audio-in-video needs one)", path));
    }
    return opened.status();
  }
  OpenedStream stream = std::move(opened).value();
  std::vector<float> out;
  std::unique_ptr<SwrContext, SwrFree> swr;
  bool passthrough = false;
  std::vector<float> buffer;
  Status decoded = DecodeStream(ctx.get(), stream, path, [&](const AVFrame& f, bool*) -> Status {
    const auto fmt = static_cast<AVSampleFormat>(f.format);
    const int channels = f.ch_layout.nb_channels;
    if (!swr && !passthrough) {
      passthrough = fmt == AV_SAMPLE_FMT_FLTP && f.sample_rate == rate && channels == 1;
      if (!passthrough) {
        AVChannelLayout mono;
        if (channels == 1) {
          av_channel_layout_copy(&mono, &f.ch_layout);
        } else {
          av_channel_layout_default(&mono, 1);
        }
        SwrContext* raw = nullptr;
        int rc = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLTP, rate,
                                     const_cast<AVChannelLayout*>(&f.ch_layout), fmt, f.sample_rate,
                                     0, nullptr);
        av_channel_layout_uninit(&mono);
        if (rc >= 0) rc = swr_init(raw);
        swr.reset(raw);
        if (rc < 0) {
          return InvalidArgument(
              fmt::format("{}: cannot resample the audio track ({})", path, AvError(rc)));
        }
      }
    }
    if (passthrough) {
      const auto* p = reinterpret_cast<const float*>(f.extended_data[0]);
      out.insert(out.end(), p, p + f.nb_samples);
      return Status::Ok();
    }
    const int cap = swr_get_out_samples(swr.get(), f.nb_samples);
    buffer.resize(static_cast<size_t>(std::max(cap, 0)));
    uint8_t* dst[1] = {reinterpret_cast<uint8_t*>(buffer.data())};
    const int got = swr_convert(swr.get(), dst, cap, const_cast<const uint8_t**>(f.extended_data),
                                f.nb_samples);
    if (got < 0) {
      return InvalidArgument(fmt::format("{}: resampling failed ({})", path, AvError(got)));
    }
    out.insert(out.end(), buffer.begin(), buffer.begin() + got);
    return Status::Ok();
  });
  OMNI_RETURN_IF_ERROR(decoded);
  if (swr) {
    const int cap = swr_get_out_samples(swr.get(), 0);
    if (cap > 0) {
      buffer.resize(static_cast<size_t>(cap));
      uint8_t* dst[1] = {reinterpret_cast<uint8_t*>(buffer.data())};
      const int got = swr_convert(swr.get(), dst, cap, nullptr, 0);
      if (got > 0) out.insert(out.end(), buffer.begin(), buffer.begin() + got);
    }
  }
  if (out.empty()) return InvalidArgument(fmt::format("{}: the audio track has no samples", path));
  return out;
}

}  // namespace omnisage

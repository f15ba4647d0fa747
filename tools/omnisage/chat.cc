// omnisage chat: an interactive multi-turn conversation in the terminal.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "generate_flags.h"
#include "media_flags.h"
#include "runtime/messages.h"
#include "runtime/report.h"
#include "speak_flags.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"

namespace omnisage::cli {
namespace {

// "/reward R": R is a number in [-1, 1].
StatusOr<double> ParseReward(const std::string& arg) {
  const size_t begin = arg.find_first_not_of(' '), last = arg.find_last_not_of(' ');
  const std::string text = begin == std::string::npos ? "" : arg.substr(begin, last - begin + 1);
  char* end = nullptr;
  const double r = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(r) || r < -1 || r > 1) {
    return InvalidArgument(
        fmt::format("/reward takes a number in [-1, 1], e.g. /reward 0.5 (got '{}')", text));
  }
  return r;
}

struct ChatArgs {
  GenerateArgs gen;
  MediaArgs media;
  SpeakArgs speak;
};

// The user's turn: an image part per image, a video part per video, an audio part per clip, then
// the text.
StatusOr<std::string> RenderTurn(const std::string& system, const std::vector<ImageInput>& images,
                                 const std::vector<VideoInput>& videos,
                                 const std::vector<AudioClip>& audio, const std::string& line) {
  std::vector<Message> messages;
  if (!system.empty()) messages.push_back({"system", {{MessagePart::Kind::kText, system, ""}}});
  Message user{"user", {}};
  for (const ImageInput& image : images)
    user.parts.push_back({MessagePart::Kind::kImage, "", image.name});
  for (const VideoInput& video : videos)
    user.parts.push_back({MessagePart::Kind::kVideo, "", video.name});
  for (const AudioClip& clip : audio)
    user.parts.push_back({MessagePart::Kind::kAudio, "", clip.name});
  user.parts.push_back({MessagePart::Kind::kText, line, ""});
  messages.push_back(std::move(user));
  OMNI_ASSIGN_OR_RETURN(RenderedMessages rendered, RenderMessages(messages));
  return rendered.text;
}

int RunChat(const ChatArgs& args, const CLI::App& sub) {
  const GenerateArgs& a = args.gen;
  if (Status s = CheckGenerateFlags(sub, a); !s.ok()) return ReportError(s.message());
  if (Status s = CheckSpeakFlags(sub, args.speak, /*out_is_dir=*/true); !s.ok()) {
    return ReportError(s.message());
  }
  // --audio, --image and --video go with the first message; /audio PATH, /image PATH and
  // /video PATH add a clip, an image or a video to the next one.
  auto first_audio = LoadAudioClips(args.media.audio);
  if (!first_audio.ok()) return ReportError(first_audio.status().message());
  std::vector<AudioClip> audio = std::move(*first_audio);
  auto first_images = LoadImages(args.media.image);
  if (!first_images.ok()) return ReportError(first_images.status().message());
  std::vector<ImageInput> images = std::move(*first_images);
  auto first_videos = LoadVideos(args.media.video, args.media.use_audio_in_video);
  if (!first_videos.ok()) return ReportError(first_videos.status().message());
  std::vector<VideoInput> videos = std::move(*first_videos);
  const bool speak = !args.speak.out.empty();
  EngineOptions engine_options = a.engine;
  engine_options.speech = speak;
  // Any message may bring audio, images or videos: the --memory plan holds both encoders.
  engine_options.audio_input = engine_options.vision_input = true;
  engine_options.speak_max_frames = args.speak.options.max_frames;
  engine_options.speak_chunk = args.speak.options.chunk_frames;
  auto engine = Engine::Load(engine_options);
  if (!engine.ok()) return ReportError(engine.status().message());
  const Tokenizer* tok = (*engine)->tokenizer();
  if (tok == nullptr) return ReportError(a.engine.model + ": no tokenizer.json; chat needs one");
  // Speech that cannot load leaves a text chat, and the command fails at the end.
  std::unique_ptr<Speaker> speaker;
  std::string speech_error;
  if (speak) {
    if (Status st = LoadSpeaker(engine->get(), args.speak, "chatting in text only", &speaker,
                                &speech_error);
        !st.ok()) {
      return ReportError(st.message());
    }
  }
  int answers = 0;  // spoken answers so far: DIR/answer-001.wav, …
  const int32_t stop = tok->TokenId(kChatStopToken);
  Session session(engine->get());
  std::fprintf(stderr,
               "%s loaded in %.1f s. Type a message; /audio PATH adds a sound file, /image "
               "PATH an image, /video PATH a video to your next message, /reset starts over, "
               "/reward R (sage) rates the "
               "last answer in [-1, 1], "
               "/exit or Ctrl-D quits.\n",
               a.engine.model.c_str(), (*engine)->load_seconds());
  bool first_turn = true;
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    if (line.rfind("/reward", 0) == 0) {
      if ((*engine)->sage() == nullptr) {
        std::fprintf(stderr, "/reward needs --mode sage\n");
      } else if (auto r = ParseReward(line.substr(7)); !r.ok()) {
        std::fprintf(stderr, "%s\n", r.status().message().c_str());
      } else {
        (*engine)->sage()->SetReward(*r);
        std::fprintf(stderr, "reward %.2f\n", *r);
      }
      continue;
    }
    if (line.rfind("/audio", 0) == 0) {
      const size_t begin = line.find_first_not_of(' ', 6);
      auto clip = LoadAudioClips({begin == std::string::npos ? "" : line.substr(begin)});
      if (!clip.ok()) {
        std::fprintf(stderr, "%s\n", clip.status().message().c_str());
      } else {
        std::fprintf(stderr, "[%s: %.1f s, goes with your next message]\n", (*clip)[0].name.c_str(),
                     (*clip)[0].samples.size() / 16000.0);
        audio.push_back(std::move((*clip)[0]));
      }
      continue;
    }
    if (line.rfind("/image", 0) == 0) {
      const size_t begin = line.find_first_not_of(' ', 6);
      auto image = LoadImages({begin == std::string::npos ? "" : line.substr(begin)});
      if (!image.ok()) {
        std::fprintf(stderr, "%s\n", image.status().message().c_str());
      } else {
        const ImageInput& in = (*image)[0];
        std::fprintf(stderr, "[%s: %d×%d, goes with your next message]\n", in.name.c_str(),
                     in.image.width, in.image.height);
        images.push_back(std::move((*image)[0]));
      }
      continue;
    }
    if (line.rfind("/video", 0) == 0) {
      const size_t begin = line.find_first_not_of(' ', 6);
      auto video = LoadVideos({begin == std::string::npos ? "" : line.substr(begin)},
                              args.media.use_audio_in_video);
      if (!video.ok()) {
        std::fprintf(stderr, "%s\n", video.status().message().c_str());
      } else {
        const VideoInput& in = (*video)[0];
        std::fprintf(stderr, "[%s: %dx%d, %.1f s%s, goes with your next message]\n",
                     in.name.c_str(), in.info.width, in.info.height, in.info.duration_seconds,
                     in.sound.empty() ? "" : " with its sound");
        videos.push_back(std::move((*video)[0]));
      }
      continue;
    }
    if (line == "/reset") {
      session.Reset();
      first_turn = true;
      continue;
    }
    auto rendered = RenderTurn(first_turn ? a.system : "", images, videos, audio, line);
    if (!rendered.ok()) return ReportError(rendered.status().message());
    Prompt prompt{{}, std::move(audio), std::move(images), std::move(videos)};
    prompt.use_audio_in_video = args.media.use_audio_in_video;
    prompt.video_fps = args.media.video_fps;
    audio.clear();
    images.clear();
    videos.clear();
    // After a finished answer the session holds its <|im_end|> unfed; ChatML wants a newline next.
    std::string text = first_turn ? *rendered : "\n" + *rendered;
    const Session::Mark before = session.mark();
    const bool was_first_turn = first_turn;
    first_turn = false;
    GenerateOptions opts = a.generate;
    if (stop >= 0) opts.stop_ids.push_back(stop);
    StreamDecoder stream(*tok, /*skip_special=*/true);
    int64_t answered = 0;
    prompt.ids = tok->Encode(text);
    auto on_token = [&](int32_t id) {
      ++answered;
      if (id == stop) return true;
      const std::string piece = stream.Push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    StatusOr<GenerateStats> stats = GenerateStats{};
    std::optional<SpokenAnswer> spoken;
    std::unique_ptr<WavWriter> wav;
    if (speaker != nullptr) {
      const std::string path =
          (std::filesystem::path(args.speak.out) / fmt::format("answer-{:03d}.wav", answers + 1))
              .string();
      auto w = WavWriter::Open(path, Code2Wav::kSampleRate);
      if (!w.ok()) return ReportError(w.status().message());
      wav = std::move(*w);
      auto answer = speaker->Generate(
          &session, prompt, opts, args.speak.options, on_token,
          [&](const float* samples, int64_t n) { return wav->Write(samples, n); });
      if (answer.ok()) {
        stats = answer->text;
        spoken = std::move(*answer);
      } else {
        stats = answer.status();
      }
    } else {
      stats = session.Generate(prompt, opts, on_token);
    }
    if (!stats.ok() && stats.status().code() == StatusCode::kOutOfRange) {
      // Out of context: refuse this one message, keep the conversation before it.
      session.RollBack(before);
      first_turn = was_first_turn;
      if (answered > 0) std::printf("\n");
      const std::string why =
          answered == 0 ? fmt::format("this message does not fit in the {} tokens of context left",
                                      session.context() - static_cast<int64_t>(before.history))
                        : fmt::format("the answer ran out of context after {} tokens", answered);
      std::fprintf(stderr,
                   "[%s (--context %lld): the message is dropped and the conversation goes on "
                   "from before it; /reset starts a new one]\n",
                   why.c_str(), static_cast<long long>(session.context()));
      continue;
    }
    if (!stats.ok() && answered == 0 && prompt.has_media()) {
      // The message's audio, image or video could not be taken in (nothing was fed): drop the
      // message, go on.
      session.RollBack(before);
      first_turn = was_first_turn;
      std::fprintf(stderr, "[%s: the message is dropped and the conversation goes on]\n",
                   stats.status().message().c_str());
      continue;
    }
    if (!stats.ok()) return ReportError(stats.status().message());
    std::printf("%s\n", stream.Flush().c_str());
    std::fprintf(stderr, "[%s]\n%s", SummaryLine(*stats).c_str(), MemoryReport(**engine).c_str());
    if (spoken) {
      if (Status closed = wav->Close(); !closed.ok()) return ReportError(closed.message());
      ++answers;
      std::fprintf(stderr, "[%s; wrote %s]\n", SpeechSummary(*spoken, *speaker).c_str(),
                   wav->path().c_str());
    }
  }
  if (!speech_error.empty()) return ReportError("speech: " + speech_error);
  return 0;
}

}  // namespace

void AddChatCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ChatArgs>();
  CLI::App* sub = app.add_subcommand("chat", "Interactive multi-turn chat in the terminal");
  AddGenerateFlags(sub, &args->gen);
  AddAudioFlag(sub, &args->media);
  AddImageFlag(sub, &args->media);
  AddVideoFlags(sub, &args->media);
  AddSpeakFlags(sub, &args->speak,
                "Speak each answer into a WAV file in this directory (answer-001.wav, …)");
  sub->callback([args, exit_code, sub] { *exit_code = RunChat(*args, *sub); });
}

}  // namespace omnisage::cli

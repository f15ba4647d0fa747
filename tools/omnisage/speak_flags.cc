#include "speak_flags.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "option_flags.h"
#include "runtime/report.h"
#include "util/units.h"

namespace omnisage::cli {

void AddSpeakFlags(CLI::App* sub, SpeakArgs* args, const std::string& speak_help) {
  sub->add_option("--speak", args->out, speak_help);
  AddOptionFlags(sub, &args->options);
}

Status CheckSpeakFlags(const CLI::App& sub, const SpeakArgs& args, bool out_is_dir) {
  OMNI_RETURN_IF_ERROR(ValidateOptions(args.options));
  if (args.out.empty()) {
    for (const char* flag : {"--voice", "--speak-max-frames", "--speak-chunk"}) {
      if (sub.get_option(flag)->count() > 0) {
        return InvalidArgument(fmt::format("{} needs --speak", flag));
      }
    }
    return Status::Ok();
  }
  namespace fs = std::filesystem;
  const fs::path out(args.out);
  const fs::path dir = out_is_dir ? out : (out.has_parent_path() ? out.parent_path() : ".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgument(
        fmt::format("--speak {}: {} is not a directory", args.out, dir.string()));
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return InvalidArgument(fmt::format("--speak {}: cannot write to {}", args.out, dir.string()));
  }
  if (!out_is_dir && fs::is_directory(out, ec)) {
    return InvalidArgument(fmt::format("--speak {}: is a directory; give a .wav file", args.out));
  }
  return Status::Ok();
}

Status LoadSpeaker(Engine* engine, const SpeakArgs& args, const char* fallback,
                   std::unique_ptr<Speaker>* speaker, std::string* speech_error) {
  auto loaded = Speaker::Load(engine);
  if (!loaded.ok()) {
    *speech_error = loaded.status().message();
    std::fprintf(stderr, "speech: %s; %s\n", speech_error->c_str(), fallback);
    return Status();
  }
  *speaker = std::move(*loaded);
  return (*speaker)->VoiceId(args.options.voice).status();
}

namespace {

// "\ntalker experts (in the shared budget): 1200 uses, 900 hits (75.0%), …", or nothing when
// its experts are resident.
std::string TalkerCacheLine(Speaker& speaker) {
  const CachedExperts* cache = speaker.expert_cache();
  if (cache == nullptr) return "";
  const ExpertCacheStats t = cache->total_stats();
  return fmt::format(
      "\ntalker experts (in the shared budget): {} uses, {} hits ({:.1f}%), {} misses, read {} "
      "| stalled {:.3f} s | {} evictions",
      t.accesses, t.hits, 100 * t.hit_rate(), t.misses, FormatBytes(t.bytes_read), t.stall_seconds,
      t.evictions);
}

}  // namespace

std::string SpeechSummary(const SpokenAnswer& a, Speaker& speaker) {
  const SpeechStats& s = a.speech;
  const double audio = static_cast<double>(s.samples) / speaker.sample_rate();
  const double compute = s.talker_seconds + s.predictor_seconds + s.code2wav_seconds;
  return fmt::format(
             "speech: {:.2f} s of audio ({} frames, {}) | talker {:.2f} s, code predictor {:.2f} "
             "s, "
             "code2wav {:.2f} s | real-time factor {:.2f} | first audio {:.2f} s",
             audio, s.frames, s.ended_on_eos ? "ended on codec_eos" : "frame limit or no more text",
             s.talker_seconds, s.predictor_seconds, s.code2wav_seconds,
             audio > 0 ? compute / audio : 0.0, s.first_audio_seconds) +
         TalkerCacheLine(speaker);
}

nlohmann::ordered_json SpeechJson(const SpokenAnswer& a, Speaker& speaker, const std::string& wav) {
  const SpeechStats& s = a.speech;
  const double audio = static_cast<double>(s.samples) / speaker.sample_rate();
  const double compute = s.talker_seconds + s.predictor_seconds + s.code2wav_seconds;
  CachedExperts* cache = speaker.expert_cache();
  return {{"wav", wav},
          {"sample_rate", speaker.sample_rate()},
          {"samples", s.samples},
          {"audio_seconds", audio},
          {"frames", s.frames},
          {"ended_on_codec_eos", s.ended_on_eos},
          {"talker_seconds", s.talker_seconds},
          {"code_predictor_seconds", s.predictor_seconds},
          {"code2wav_seconds", s.code2wav_seconds},
          {"real_time_factor", audio > 0 ? compute / audio : 0.0},
          {"first_audio_seconds", s.first_audio_seconds},
          {"talker_expert_cache", cache != nullptr ? CacheStatsJson(cache->total_stats())
                                                   : nlohmann::ordered_json(nullptr)}};
}

}  // namespace omnisage::cli

// Speech output on the command line: run --speak OUT.wav and chat --speak DIR, with --voice,
// --speak-max-frames and --speak-chunk (SpeakOptions, runtime/speaker.h).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "media/wav_writer.h"
#include "runtime/speaker.h"

namespace omnisage::cli {

struct SpeakArgs {
  std::string out;  // --speak: a WAV file (run) or a directory of them (chat)
  SpeakOptions options;
};

// --speak (its help says what the value is), then --voice, --speak-max-frames, --speak-chunk.
void AddSpeakFlags(CLI::App* sub, SpeakArgs* args, const std::string& speak_help);

// Before any model file is opened: the speech flags' values, none of them without --speak, and
// the output's directory (`out_is_dir`: --speak names the directory itself) exists and can be
// written to.
Status CheckSpeakFlags(const CLI::App& sub, const SpeakArgs& args, bool out_is_dir);

// The speech stack of a loaded engine, for a command given --speak. A --voice the config does not
// name is an error. Speech that cannot load (no talker, missing tensors) is not: *speaker stays
// null, *speech_error holds why, and stderr says "speech: <why>; <fallback>" (the command goes
// on in text and fails at the end, since speech was asked for).
Status LoadSpeaker(Engine* engine, const SpeakArgs& args, const char* fallback,
                   std::unique_ptr<Speaker>* speaker, std::string* speech_error);

// One line for people: "speech: 3.1 s of audio (39 frames, ended on codec_eos) | talker … s, code
// predictor … s, code2wav … s | real-time factor … | first audio … s", and under a budget a
// line of the talker's expert cache statistics.
std::string SpeechSummary(const SpokenAnswer& answer, Speaker& speaker);
// The same for --json, with the talker's expert cache statistics (null when resident).
nlohmann::ordered_json SpeechJson(const SpokenAnswer& answer, Speaker& speaker,
                                  const std::string& wav);

}  // namespace omnisage::cli

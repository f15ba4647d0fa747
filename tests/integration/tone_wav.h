// The CLI tests' audio input: a WAV of a 440 Hz tone, written by the engine's own WavWriter
// (mono, 16-bit PCM).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "media/wav_writer.h"

namespace omnisage {

// `seconds` of the tone at amplitude 8000 / 32768, sampled at `rate`.
inline void WriteTone(const std::string& path, double seconds, int rate = 16000) {
  std::vector<float> samples(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i] = static_cast<float>(8000.0 / 32768.0 * std::sin(2 * M_PI * 440.0 * i / rate));
  }
  auto w = WavWriter::Open(path, rate);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Write(samples.data(), static_cast<int64_t>(samples.size())).ok());
  ASSERT_TRUE((*w)->Close().ok());
}

}  // namespace omnisage

// The speech tests' model: `synth --preset tiny --seed 0` (the weights the golden fixtures in
// tests/golden/speech were made from), generated once per test process and removed at exit.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/synth.h"
#include "source_paths.h"

namespace omnisage {

inline const std::string& TinyCheckpointDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::path(::testing::TempDir()) / fmt::format("omnisage_speech_{}", getpid()))
            .string());
    std::filesystem::remove_all(*d);
    SynthOptions o;
    o.preset = Preset::kTiny;
    o.seed = 0;
    o.out_dir = *d;
    o.tokenizer_dir = ::omnisage::test_paths::SourceDir() + "/data/qwen3-tokenizer";
    o.progress = false;
    const auto report = SynthesizeCheckpoint(o);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    std::atexit([] { std::filesystem::remove_all(TinyCheckpointDir()); });
    return d;
  }();
  return *dir;
}

inline std::string SpeechGolden(const std::string& file) {
  return ::omnisage::test_paths::SourceDir() + "/tests/golden/speech/qwen3_omni_moe_tiny/" + file;
}

template <typename T>
std::vector<T> ReadBinaryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << path;
  std::vector<T> v(static_cast<size_t>(in.tellg()) / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), v.size() * sizeof(T));
  return v;
}

}  // namespace omnisage

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

#include "generated_model.h"
#include "source_paths.h"

namespace omnisage {

inline const std::string& TinyCheckpointDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(::omnisage::test_paths::FreshTestDir("omnisage_speech_"));
    const Status s = ::omnisage::test_paths::SynthesizeTestModel(*d);  // seed 0
    EXPECT_TRUE(s.ok()) << s.ToString();
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

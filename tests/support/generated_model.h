// The generated checkpoints tests run on: a fresh directory under the build tree's test temp dir
// (TEST_TMPDIR), and `synth` into it with the real Qwen3 tokenizer data. Header-only; a test
// executable using it links omnisage_model.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/synth.h"
#include "source_paths.h"
#include "util/status.h"

namespace omnisage::test_paths {

// TempDir()/<name><pid>, removed first if it exists (a directory of an earlier run).
inline std::string FreshTestDir(const std::string& name) {
  const std::string dir =
      (std::filesystem::path(::testing::TempDir()) / (name + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  return dir;
}

// `synth --preset preset --arch arch --out dir` (seed 0), quietly.
inline Status SynthesizeTestModel(const std::string& dir, Arch arch = Arch::kQwen3OmniMoe,
                                  Preset preset = Preset::kTiny) {
  SynthOptions o;
  o.preset = preset;
  o.arch = arch;
  o.out_dir = dir;
  o.tokenizer_dir = SourceDir() + "/data/qwen3-tokenizer";
  o.progress = false;
  return SynthesizeCheckpoint(o).status();
}

}  // namespace omnisage::test_paths

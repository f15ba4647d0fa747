#include "experts/verify.h"

#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "experts/extract.h"
#include "experts/manifest.h"
#include "experts/store.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "util/checksum.h"
#include "util/elapsed.h"
#include "util/progress.h"

namespace omnisage {
namespace {

// Compares a safetensors file's header with the manifest's record of it.
std::optional<std::string> CheckHeader(std::unique_ptr<File> file, const StoreFile& f) {
  auto st = SafetensorsFile::Open(std::move(file));
  if (!st.ok()) return st.status().message();
  SafetensorsHeader header;
  header.tensors = (*st)->tensors();
  return HeaderProblem(header, (*st)->data_offset(), f);
}

}  // namespace

StatusOr<VerifyReport> VerifyStore(const std::string& dir, bool progress, FileSystem* fs) {
  if (fs == nullptr) fs = FileSystem::Default();
  const auto start = std::chrono::steady_clock::now();
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  if (!fs->Exists(manifest_path)) {
    if (IsIncompleteExpertStore(dir)) {
      return NotFound(
          fmt::format("{}: missing: the extraction into {} did not finish; run "
                      "extract again to resume it",
                      manifest_path, dir));
    }
    return NotFound(fmt::format("{}: missing: {} is not an expert store", manifest_path, dir));
  }
  OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(manifest_path));
  OMNI_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, manifest_path));

  VerifyReport report;
  report.quantization = m.quantization;
  uint64_t total = 0;
  for (const StoreFile& f : m.files) total += f.bytes;
  std::optional<ProgressBar> bar;
  if (progress) bar.emplace("verify", total);
  uint64_t done = 0;
  std::vector<uint8_t> buffer(kCopyBufferBytes);
  for (const StoreFile& f : m.files) {
    report.files++;
    auto problem = [&](std::string what) { report.problems.push_back({f.path, std::move(what)}); };
    auto file = fs->OpenFile(dir + "/" + f.path, ReadMode::kPread);
    if (!file.ok()) {
      problem(file.status().message());
      done += f.bytes;
      continue;
    }
    if ((*file)->size() != f.bytes) {
      problem(fmt::format("size {} bytes, manifest says {}", (*file)->size(), f.bytes));
      done += f.bytes;
      continue;
    }
    const uint64_t before = done;
    auto hash = HashFile(**file, buffer, [&](size_t n) {
      done += n;
      if (bar) bar->Update(done);
    });
    done = before + f.bytes;
    report.bytes += f.bytes;
    if (!hash.ok()) {
      problem(hash.status().message());
      continue;
    }
    if (*hash != f.xxh3) {
      problem(fmt::format("checksum mismatch: xxh3 {} in the file, {} in the manifest",
                          ChecksumHex(*hash), ChecksumHex(f.xxh3)));
      continue;
    }
    if (f.kind != StoreFileKind::kExtra) {
      if (auto bad = CheckHeader(std::move(*file), f)) problem(*bad);
    }
  }
  if (bar) bar->Finish();
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace omnisage

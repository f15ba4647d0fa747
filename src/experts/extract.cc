#include "experts/extract.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "experts/manifest.h"
#include "experts/store.h"
#include "io/checkpoint.h"
#include "io/file.h"
#include "io/file_lock.h"
#include "io/quant_config.h"
#include "io/safetensors_writer.h"
#include "io/temp_file.h"
#include "util/checksum.h"
#include "util/elapsed.h"
#include "util/proc_memory.h"
#include "util/progress.h"
#include "util/thread_pool.h"

namespace omnisage {

namespace fs = std::filesystem;

StatusOr<std::vector<int>> ParseIndexList(std::string_view text) {
  std::vector<int> out;
  std::string s(text);
  std::stringstream ss(s);
  std::string item;
  auto bad = [&](const std::string& why) {
    return InvalidArgument(fmt::format("list '{}': {} (expected e.g. 0-7,12)", text, why));
  };
  while (std::getline(ss, item, ',')) {
    if (item.empty()) return bad("empty item");
    int a = 0, b = 0;
    char dash = 0;
    int n = 0;
    if (std::sscanf(item.c_str(), "%d%n", &a, &n) == 1 && n == static_cast<int>(item.size())) {
      b = a;
    } else if (std::sscanf(item.c_str(), "%d%c%d%n", &a, &dash, &b, &n) == 3 && dash == '-' &&
               n == static_cast<int>(item.size())) {
    } else {
      return bad(fmt::format("'{}' is not N or A-B", item));
    }
    if (a < 0 || b < a) return bad(fmt::format("'{}' is not a non-negative range", item));
    for (int i = a; i <= b; ++i) out.push_back(i);
  }
  if (out.empty()) return bad("empty");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

// One tensor of a store file and where its bytes come from.
struct Piece {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const WeightEntry* src;
  uint64_t src_offset;  // within the source tensor
  uint64_t bytes;
  std::string source_shard;
  uint64_t order;
  // A part of a quantized matrix (ops/quant.h) made from the source's bf16 [rows, cols] in
  // `format` (int4: groups of `group`): 0 the values, 1 the scales, 2 the zero points; -1: the
  // bytes are copied as they are.
  int quant_part = -1;
  int64_t rows = 0, cols = 0;
  WeightFormat format = WeightFormat::kBf16;
  int64_t group = 0;
};

struct PlannedFile {
  StoreFile meta;
  std::vector<Piece> pieces;
  std::string header;  // safetensors header JSON
};

int ProjRank(std::string_view name) {
  const TensorKind k = ClassifyTensor(name);
  switch (k.proj) {
    case ExpertProj::kGate:
      return 0;
    case ExpertProj::kUp:
      return 1;
    case ExpertProj::kDown:
      return 2;
    default:
      return 3;
  }
}

class Extractor {
 public:
  explicit Extractor(const ExtractOptions& o)
      : o_(o), fs_(o.fs != nullptr ? o.fs : FileSystem::Default()), buffer_(kCopyBufferBytes) {}

  StatusOr<ExtractReport> Run();

 private:
  bool Selected(Component c, int layer, int expert) const;
  Status Plan(const WeightSource& src);
  void AddPiece(const std::string& path, StoreFileKind kind, Component c, int layer, int expert,
                Piece piece);
  // An expert tensor: copied, or quantized into its parts when --quant asks.
  Status AddExpertPiece(const WeightSource& src, const std::string& path, Component c, int layer,
                        int expert, Piece piece);
  // The parts of `piece` (bf16 [rows, cols]) quantized to `format`, added to file `path`.
  Status AddQuantPieces(const WeightSource& src, const std::string& path, StoreFileKind kind,
                        Component c, int layer, int expert, const Piece& piece, WeightFormat format,
                        int64_t group);
  Status WriteQuantPiece(const Piece& p, const WeightSource& src,
                         const std::function<Status(const void*, size_t)>& append);
  Status LoadJournal();
  StatusOr<bool> AlreadyComplete(const PlannedFile& f);
  Status WriteFile(PlannedFile& f, const WeightSource& src);
  Status CopyExtra(const std::string& name);
  Status Journal(const StoreFile& f);
  Status RemoveStaleTempFiles();
  // The error of a run stopped while writing `rel`, with how far it got and how to resume.
  Status Stopped(const std::string& rel, const Status& s) const;
  std::string Out(const std::string& rel) const { return o_.out + "/" + rel; }
  void Progress(uint64_t bytes) {
    done_ += bytes;
    if (bar_) bar_->Update(done_);
  }

  const ExtractOptions& o_;
  FileSystem* fs_;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> quant_buffer_;  // one chunk of rows, quantized
  std::unique_ptr<ThreadPool> pool_;   // quantizing threads (when anything is quantized)
  // The matrix quant_buffer_ holds whole (its source tensor and offset), when it fit one chunk:
  // its values, scales and zero points are three pieces, quantized once for all three.
  const WeightEntry* quantized_src_ = nullptr;
  uint64_t quantized_offset_ = 0;
  std::map<std::string, PlannedFile> planned_;  // by relative path
  std::vector<PlannedFile*> order_;
  bool complete_ = true;
  std::string expert_layout_ = "per_expert";
  std::map<std::string, std::pair<uint64_t, uint64_t>> journal_;  // path -> (bytes, xxh3)
  std::unique_ptr<WritableFile> journal_file_;
  std::optional<ProgressBar> bar_;
  uint64_t done_ = 0;
  ExtractReport report_;
};

bool Extractor::Selected(Component c, int layer, int expert) const {
  if (!o_.components.empty() &&
      std::find(o_.components.begin(), o_.components.end(), c) == o_.components.end()) {
    return false;
  }
  if (o_.layers && (layer < o_.layers->first || layer > o_.layers->second)) return false;
  if (!o_.experts.empty() && !std::binary_search(o_.experts.begin(), o_.experts.end(), expert)) {
    return false;
  }
  return true;
}

void Extractor::AddPiece(const std::string& path, StoreFileKind kind, Component c, int layer,
                         int expert, Piece piece) {
  PlannedFile& f = planned_[path];
  if (f.meta.path.empty()) {
    f.meta.path = path;
    f.meta.kind = kind;
    f.meta.component = c;
    f.meta.layer = layer;
    f.meta.expert = expert;
  }
  f.pieces.push_back(std::move(piece));
}

Status Extractor::AddExpertPiece(const WeightSource& src, const std::string& path, Component c,
                                 int layer, int expert, Piece piece) {
  if (o_.quant == WeightFormat::kBf16) {
    AddPiece(path, StoreFileKind::kExpert, c, layer, expert, std::move(piece));
    return Status::Ok();
  }
  return AddQuantPieces(src, path, StoreFileKind::kExpert, c, layer, expert, piece, o_.quant,
                        o_.quant == WeightFormat::kInt4 ? o_.group : 0);
}

Status Extractor::AddQuantPieces(const WeightSource& src, const std::string& path,
                                 StoreFileKind kind, Component c, int layer, int expert,
                                 const Piece& piece, WeightFormat format, int64_t group) {
  const std::string where =
      fmt::format("{}: tensor '{}'", src.files()[piece.src->file], piece.name);
  if (piece.dtype != DType::kBF16 || piece.shape.size() != 2) {
    return InvalidArgument(
        fmt::format("{}: --quant {} needs BF16 [rows, cols] expert weights, found {} {}", where,
                    WeightFormatName(format), DTypeName(piece.dtype), ShapeString(piece.shape)));
  }
  const int64_t rows = piece.shape[0], cols = piece.shape[1];
  OMNI_RETURN_IF_ERROR(CheckQuantShape(format, rows, cols, group, where));
  const QuantLayout l = LayoutOf(format, rows, cols, group);
  Piece values = piece;
  values.dtype = format == WeightFormat::kInt8 ? DType::kI8 : DType::kU8;
  values.shape = {rows, format == WeightFormat::kInt8 ? cols : cols / 2};
  values.bytes = l.q_bytes;
  values.quant_part = 0;
  values.rows = rows;
  values.cols = cols;
  values.format = format;
  values.group = group;
  Piece scales = values;
  scales.name = QuantScaleName(piece.name);
  scales.dtype = DType::kF32;
  scales.shape = format == WeightFormat::kInt8 ? std::vector<int64_t>{rows}
                                               : std::vector<int64_t>{rows, cols / group};
  scales.bytes = l.scale_bytes;
  scales.quant_part = 1;
  AddPiece(path, kind, c, layer, expert, std::move(values));
  AddPiece(path, kind, c, layer, expert, scales);
  if (format == WeightFormat::kInt4) {
    Piece zeros = scales;
    zeros.name = QuantZeroName(piece.name);
    zeros.dtype = DType::kU8;
    zeros.bytes = l.zero_bytes;
    zeros.quant_part = 2;
    AddPiece(path, kind, c, layer, expert, std::move(zeros));
  }
  return Status::Ok();
}

Status Extractor::Plan(const WeightSource& src) {
  const std::vector<WeightEntry>& tensors = src.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const WeightEntry& t = tensors[i];
    const TensorKind kind = ClassifyTensor(t.name);
    const std::string shard = fs::path(src.files()[t.file]).filename().string();
    const uint64_t order = static_cast<uint64_t>(i) << 20;
    Piece whole{t.name, t.dtype, t.shape, &t, 0, t.nbytes, shard, order};
    if (kind.role == TensorRole::kRouter) {
      AddPiece(RouterFilePath(kind.component), StoreFileKind::kRouter, kind.component, -1, -1,
               std::move(whole));
      continue;
    }
    if (kind.role != TensorRole::kExpert) {
      if (o_.quant_dense && QuantizedByQuantDense(t.name, t.dtype, t.shape)) {
        OMNI_RETURN_IF_ERROR(AddQuantPieces(src, DenseFilePath(kind.component),
                                            StoreFileKind::kDense, kind.component, -1, -1, whole,
                                            WeightFormat::kInt8, 0));
        continue;
      }
      AddPiece(DenseFilePath(kind.component), StoreFileKind::kDense, kind.component, -1, -1,
               std::move(whole));
      continue;
    }
    if (!kind.fused()) {
      if (!Selected(kind.component, kind.layer, kind.expert)) {
        complete_ = false;
        continue;
      }
      OMNI_RETURN_IF_ERROR(
          AddExpertPiece(src, ExpertFilePath(kind.component, kind.layer, kind.expert),
                         kind.component, kind.layer, kind.expert, std::move(whole)));
      continue;
    }
    // Fused [E, 2I, H] gate_up_proj or [E, H, I] down_proj: one contiguous slice per expert.
    expert_layout_ = "fused";
    const std::vector<FusedExpertPart> parts = FusedExpertParts(t.name, t.shape);
    if (parts.empty()) {
      return InvalidArgument(
          fmt::format("{}: tensor '{}': shape {}: a fused expert tensor must be "
                      "[experts, rows, cols] (gate_up rows even)",
                      src.files()[t.file], t.name, ShapeString(t.shape)));
    }
    const uint64_t elem = t.nbytes / t.numel;
    for (size_t i = 0; i < parts.size(); ++i) {
      const FusedExpertPart& part = parts[i];
      const int e = static_cast<int>(part.expert);
      if (!Selected(kind.component, kind.layer, e)) {
        complete_ = false;
        continue;
      }
      OMNI_RETURN_IF_ERROR(AddExpertPiece(
          src, ExpertFilePath(kind.component, kind.layer, e), kind.component, kind.layer, e,
          Piece{part.name, t.dtype, part.shape, &t, part.first * elem, part.numel * elem, shard,
                order | static_cast<uint64_t>(i)}));
    }
  }
  // Files in a stable order: dense, routers, then experts by component, layer, expert.
  for (auto& [path, f] : planned_) {
    std::stable_sort(f.pieces.begin(), f.pieces.end(), [](const Piece& a, const Piece& b) {
      return ProjRank(a.name) < ProjRank(b.name);
    });
    std::vector<TensorDecl> decls;
    for (const Piece& p : f.pieces) decls.push_back({p.name, p.dtype, p.shape});
    std::map<std::string, std::string> metadata = {{"format", "pt"}};
    if (f.meta.kind == StoreFileKind::kExpert && o_.quant == WeightFormat::kInt4) {
      metadata["int4_rounding"] = Int4RoundingName(o_.int4_rounding);
    }
    f.header = BuildSafetensorsHeader(decls, metadata);
    uint64_t offset = 8 + f.header.size();
    for (const Piece& p : f.pieces) {
      f.meta.tensors.push_back(
          {p.name, p.dtype, p.shape, offset, p.bytes, p.source_shard, p.order});
      offset += p.bytes;
    }
    f.meta.bytes = offset;
    order_.push_back(&f);
  }
  std::stable_sort(order_.begin(), order_.end(), [](const PlannedFile* a, const PlannedFile* b) {
    auto key = [](const StoreFile& m) {
      return std::tuple(static_cast<int>(m.kind), static_cast<int>(m.component), m.layer, m.expert);
    };
    return key(a->meta) < key(b->meta);
  });
  return Status::Ok();
}

Status Extractor::LoadJournal() {
  // A finished store's manifest vouches for its files as the journal does for an unfinished one.
  const std::string manifest_path = Out(std::string(kManifestFileName));
  if (fs_->Exists(manifest_path)) {
    auto text = ReadFileToString(manifest_path);
    auto manifest =
        text.ok() ? ParseManifest(*text, manifest_path) : StatusOr<Manifest>(text.status());
    if (manifest.ok()) {
      for (const StoreFile& f : manifest->files) {
        if (f.kind != StoreFileKind::kExtra) journal_[f.path] = {f.bytes, f.xxh3};
      }
    }
  }
  const std::string path = Out(std::string(kJournalFileName));
  if (fs_->Exists(path)) {
    OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) {
      char hex[17] = {0};
      unsigned long long bytes = 0;
      int n = 0;
      // "<xxh3 hex> <bytes> <relative path>"; a torn last line simply does not parse.
      if (std::sscanf(line.c_str(), "%16s %llu %n", hex, &bytes, &n) == 2 && n > 0 &&
          n < static_cast<int>(line.size())) {
        journal_[line.substr(n)] = {bytes, std::strtoull(hex, nullptr, 16)};
      }
    }
  }
  // Rewrite the journal with what it said, then append as files complete.
  OMNI_ASSIGN_OR_RETURN(journal_file_, fs_->NewWritableFile(path));
  for (const auto& [rel, entry] : journal_) {
    OMNI_RETURN_IF_ERROR(journal_file_->Append(
        fmt::format("{} {} {}\n", ChecksumHex(entry.second), entry.first, rel)));
  }
  return journal_file_->Flush();
}

Status Extractor::Journal(const StoreFile& f) {
  OMNI_RETURN_IF_ERROR(
      journal_file_->Append(fmt::format("{} {} {}\n", ChecksumHex(f.xxh3), f.bytes, f.path)));
  return journal_file_->Flush();
}

StatusOr<bool> Extractor::AlreadyComplete(const PlannedFile& f) {
  auto it = journal_.find(f.meta.path);
  if (it == journal_.end() || it->second.first != f.meta.bytes) return false;
  const std::string path = Out(f.meta.path);
  if (!fs_->Exists(path)) return false;
  auto file = fs_->OpenFile(path, ReadMode::kPread);
  if (!file.ok() || (*file)->size() != f.meta.bytes) return false;
  // The header must be the one we would write, and the journalled checksum must still hold.
  std::string header(f.header.size(), '\0');
  if (f.meta.bytes < 8 + header.size() || !(*file)->ReadAt(8, header.size(), header.data()).ok() ||
      header != f.header) {
    return false;
  }
  auto hash = HashFile(**file, buffer_);
  return hash.ok() && *hash == it->second.second;
}

Status Extractor::WriteFile(PlannedFile& f, const WeightSource& src) {
  const std::string final_path = Out(f.meta.path);
  OMNI_RETURN_IF_ERROR(fs_->CreateDirectories(fs::path(final_path).parent_path().string()));
  OMNI_ASSIGN_OR_RETURN(TempFile out, TempFile::Create(final_path, fs_));
  Xxh3Stream hash;
  const std::function<Status(const void*, size_t)> append = [&](const void* data,
                                                                size_t n) -> Status {
    hash.Update(data, n);
    OMNI_RETURN_IF_ERROR(out.file().Append(data, n));
    Progress(n);
    return Status::Ok();
  };
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(f.header.size() >> (8 * i));
  OMNI_RETURN_IF_ERROR(append(len, 8));
  OMNI_RETURN_IF_ERROR(append(f.header.data(), f.header.size()));
  for (const Piece& p : f.pieces) {
    if (p.quant_part >= 0) {
      OMNI_RETURN_IF_ERROR(WriteQuantPiece(p, src, append));
      continue;
    }
    for (uint64_t off = 0; off < p.bytes; off += buffer_.size()) {
      const size_t n = std::min<uint64_t>(buffer_.size(), p.bytes - off);
      OMNI_RETURN_IF_ERROR(src.Read(*p.src, p.src_offset + off, n, buffer_.data()));
      OMNI_RETURN_IF_ERROR(append(buffer_.data(), n));
    }
  }
  OMNI_RETURN_IF_ERROR(out.Commit());  // on any error `out` removes its temporary file
  f.meta.xxh3 = hash.Digest();
  report_.files_written++;
  report_.bytes_written += f.meta.bytes;
  return Journal(f.meta);
}

Status Extractor::WriteQuantPiece(const Piece& p, const WeightSource& src,
                                  const std::function<Status(const void*, size_t)>& append) {
  // Rows are quantized independently: a chunk of rows that fits the copy buffer at a time, and
  // the part this piece holds of each chunk appended (row-major parts concatenate). A matrix that
  // fits one chunk stays in quant_buffer_ for its other two parts.
  const uint64_t row_bytes = 2 * static_cast<uint64_t>(p.cols);
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(buffer_.size() / row_bytes));
  const bool whole = p.rows <= chunk;
  auto append_part = [&](const QuantLayout& l) {
    const uint64_t at = p.quant_part == 0   ? l.q_offset
                        : p.quant_part == 1 ? l.scale_offset
                                            : l.zero_offset;
    const uint64_t bytes = p.quant_part == 0   ? l.q_bytes
                           : p.quant_part == 1 ? l.scale_bytes
                                               : l.zero_bytes;
    return append(quant_buffer_.data() + at, bytes);
  };
  if (whole && quantized_src_ == p.src && quantized_offset_ == p.src_offset) {
    return append_part(LayoutOf(p.format, p.rows, p.cols, p.group));
  }
  quantized_src_ = nullptr;
  std::vector<uint16_t> rows(static_cast<size_t>(std::min(chunk, p.rows) * p.cols));
  for (int64_t r = 0; r < p.rows; r += chunk) {
    const int64_t n = std::min(chunk, p.rows - r);
    OMNI_RETURN_IF_ERROR(
        src.Read(*p.src, p.src_offset + r * row_bytes, n * row_bytes, rows.data()));
    const QuantLayout l = LayoutOf(p.format, n, p.cols, p.group);
    quant_buffer_.resize(l.total());
    QuantizeBf16(p.format, rows.data(), n, p.cols, p.group, quant_buffer_.data(), o_.int4_rounding,
                 pool_.get());
    if (whole) {
      quantized_src_ = p.src;
      quantized_offset_ = p.src_offset;
    }
    OMNI_RETURN_IF_ERROR(append_part(l));
  }
  return Status::Ok();
}

Status Extractor::CopyExtra(const std::string& name) {
  StoreFile meta;
  meta.path = name;
  meta.kind = StoreFileKind::kExtra;
  OMNI_ASSIGN_OR_RETURN(meta.xxh3,
                        CopyFileAtomically(fs_, (fs::path(o_.model) / name).string(), Out(name)));
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> copied, fs_->OpenFile(Out(name), ReadMode::kPread));
  meta.bytes = copied->size();
  planned_[name].meta = meta;
  order_.push_back(&planned_[name]);
  return Status::Ok();
}

Status Extractor::RemoveStaleTempFiles() {
  // Under the store's lock no other writer is running: a temporary file here is what a killed
  // run left behind.
  std::error_code ec;
  std::vector<std::string> stale;
  for (auto it = fs::recursive_directory_iterator(o_.out, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename().string().ends_with(".tmp")) {
      stale.push_back(it->path().string());
    }
  }
  if (ec) return IoError(fmt::format("{}: list: {}", o_.out, ec.message()));
  for (const std::string& path : stale) OMNI_RETURN_IF_ERROR(fs_->Remove(path));
  return Status::Ok();
}

Status Extractor::Stopped(const std::string& rel, const Status& s) const {
  const bool full = s.message().find("No space left") != std::string::npos;
  return Status(s.code(),
                fmt::format("extract stopped while writing {}: {}. {} of {} files are complete; "
                            "{}run the same command again to resume",
                            Out(rel), s.message(), report_.files_written + report_.files_skipped,
                            order_.size(), full ? "free some space and " : ""));
}

StatusOr<ExtractReport> Extractor::Run() {
  const auto start = std::chrono::steady_clock::now();
  if (IsExpertStore(o_.model)) {
    return InvalidArgument(
        fmt::format("{}: already an expert store (extract reads a checkpoint; "
                    "use repack to turn a store back into one)",
                    o_.model));
  }
  if (o_.quant == WeightFormat::kInt4) {
    OMNI_RETURN_IF_ERROR(CheckQuantShape(WeightFormat::kInt4, 0, 0, o_.group, "--group"));
  }
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<WeightSource> src, OpenCheckpointSource(o_.model, fs_));
  if (!src->config_path().empty()) {
    // A published AWQ / GPTQ / compressed-tensors build holds packed tensors, not the weights
    // this copies; the engine runs it directly (model/published_source.h).
    OMNI_ASSIGN_OR_RETURN(const std::optional<QuantConfig> published,
                          LoadQuantConfig(src->config_path()));
    if (published) {
      return InvalidArgument(fmt::format(
          "{}: a published quantized checkpoint ({}): extract copies unquantized checkpoints; "
          "run this one directly with --model (its experts run as int4 where that loses nothing, "
          "docs/quantization.md)",
          o_.model, DescribeQuantConfig(*published)));
    }
  }
  OMNI_RETURN_IF_ERROR(Plan(*src));
  if (o_.quant != WeightFormat::kBf16 || o_.quant_dense) {
    OMNI_ASSIGN_OR_RETURN(pool_, ThreadPool::Create(o_.threads));
  }
  OMNI_RETURN_IF_ERROR(fs_->CreateDirectories(o_.out));
  // One writer per store: a second extraction into the same directory stops here.
  auto lock = FileLock::Acquire(Out(std::string(kLockFileName)), FileLock::Mode::kTry);
  if (!lock.ok()) {
    return Status(lock.status().code(),
                  fmt::format("{}: another extract is writing this store ({}); wait for it to "
                              "finish, or extract into another directory",
                              o_.out, lock.status().message()));
  }
  OMNI_RETURN_IF_ERROR(RemoveStaleTempFiles());
  OMNI_RETURN_IF_ERROR(LoadJournal());
  // A previous manifest no longer describes the store once this run starts rewriting files.
  OMNI_RETURN_IF_ERROR(fs_->Remove(Out(std::string(kManifestFileName))));

  for (const PlannedFile* f : order_) report_.bytes_total += f->meta.bytes;
  if (o_.progress) bar_.emplace("extract", report_.bytes_total);
  std::vector<PlannedFile*> data_files = order_;
  for (PlannedFile* f : data_files) {
    if (f->meta.kind == StoreFileKind::kExpert) report_.expert_files++;
    OMNI_ASSIGN_OR_RETURN(bool done, AlreadyComplete(*f));
    if (done) {
      f->meta.xxh3 = journal_[f->meta.path].second;
      report_.files_skipped++;
      Progress(f->meta.bytes);
      OMNI_RETURN_IF_ERROR(Journal(f->meta));
      continue;
    }
    if (Status s = WriteFile(*f, *src); !s.ok()) return Stopped(f->meta.path, s);
  }
  if (bar_) bar_->Finish();

  // Non-weight files of the source (config, tokenizer, templates) travel with the store.
  if (IsDirectory(o_.model)) {
    std::vector<std::string> extras;
    for (const auto& e : fs::directory_iterator(o_.model)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name.ends_with(".safetensors") || name.ends_with(".tmp") ||
          name.ends_with(".lock") || name == kIndexFileName) {
        continue;
      }
      extras.push_back(name);
    }
    std::sort(extras.begin(), extras.end());
    for (const std::string& name : extras) {
      if (Status s = CopyExtra(name); !s.ok()) return Stopped(name, s);
    }
  }

  Manifest m;
  m.source_path = o_.model;
  m.expert_layout = expert_layout_;
  if (!src->config_path().empty()) {
    OMNI_ASSIGN_OR_RETURN(std::string text, ReadFileToString(src->config_path()));
    m.config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (m.config.is_discarded()) {
      return InvalidArgument(fmt::format("{}: invalid JSON", src->config_path()));
    }
    if (m.config.contains("model_type") && m.config["model_type"].is_string()) {
      m.model_type = m.config["model_type"];
    }
  }
  for (Component c : o_.components) m.selection.components.emplace_back(ComponentName(c));
  m.selection.layers = o_.layers;
  m.selection.experts = o_.experts;
  m.selection.complete = complete_;
  m.quantization.experts = o_.quant;
  m.quantization.group = o_.quant == WeightFormat::kInt4 ? o_.group : 0;
  m.quantization.dense = o_.quant_dense ? WeightFormat::kInt8 : WeightFormat::kBf16;
  if (o_.quant == WeightFormat::kInt4) m.quantization.int4_rounding = o_.int4_rounding;
  for (const PlannedFile* f : order_) m.files.push_back(f->meta);
  if (Status s = WriteFileAtomically(fs_, Out(std::string(kManifestFileName)),
                                     ManifestToJson(m).dump(1) + "\n");
      !s.ok()) {
    return Stopped(std::string(kManifestFileName), s);
  }
  journal_file_.reset();
  OMNI_RETURN_IF_ERROR(fs_->Remove(Out(std::string(kJournalFileName))));
  report_.seconds = SecondsSince(start);
  report_.peak_rss_bytes = PeakRssBytes();
  return report_;
}

}  // namespace

StatusOr<ExtractReport> ExtractStore(const ExtractOptions& options) {
  Extractor extractor(options);
  return extractor.Run();
}

}  // namespace omnisage

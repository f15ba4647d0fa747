#include "experts/repack.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "experts/extract.h"
#include "experts/store.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "util/elapsed.h"
#include "util/progress.h"

namespace omnisage {

StatusOr<RepackReport> RepackStore(const RepackOptions& o) {
  FileSystem* fs = o.fs != nullptr ? o.fs : FileSystem::Default();
  const auto start = std::chrono::steady_clock::now();
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<ExpertStore> store, ExpertStore::Open(o.store, fs));
  const Manifest& m = store->manifest();
  if (!m.selection.complete) {
    return InvalidArgument(fmt::format(
        "{}: the store holds only some experts (extracted with --component/--layers/--experts); "
        "repack needs every expert: extract the full model",
        o.store));
  }
  if (m.quantization.quantized()) {
    return InvalidArgument(fmt::format(
        "{}: the store is quantized ({}); repack rebuilds the original checkpoint byte for byte "
        "and needs a bf16 store: extract the model again without --quant and --quant-dense",
        o.store,
        m.quantization.experts != WeightFormat::kBf16
            ? fmt::format("experts {}, extract --quant", WeightFormatName(m.quantization.experts))
            : fmt::format("dense {}, extract --quant-dense",
                          WeightFormatName(m.quantization.dense))));
  }
  // Tensors by source shard, each shard in source order.
  struct Item {
    uint64_t order;
    const StoreTensor* tensor;
  };
  std::map<std::string, std::vector<Item>> shards;
  for (const StoreFile& f : m.files) {
    for (const StoreTensor& t : f.tensors) {
      const std::string shard =
          t.source_shard.empty() ? "model-00001-of-00001.safetensors" : t.source_shard;
      shards[shard].push_back({t.source_order, &t});
    }
  }
  RepackReport report;
  for (auto& [name, items] : shards) {
    std::sort(items.begin(), items.end(),
              [](const Item& a, const Item& b) { return a.order < b.order; });
    for (const Item& it : items) report.bytes += it.tensor->bytes;
  }

  OMNI_RETURN_IF_ERROR(fs->CreateDirectories(o.out));
  std::optional<ProgressBar> bar;
  if (o.progress) bar.emplace("repack", report.bytes);
  std::vector<uint8_t> buffer(kCopyBufferBytes);
  uint64_t done = 0;
  std::map<std::string, std::string> weight_map;  // sorted by tensor name, as transformers writes
  for (const auto& [name, items] : shards) {
    std::vector<TensorDecl> decls;
    for (const Item& it : items) {
      decls.push_back({it.tensor->name, it.tensor->dtype, it.tensor->shape});
      weight_map[it.tensor->name] = name;
    }
    OMNI_ASSIGN_OR_RETURN(
        auto writer,
        SafetensorsWriter::Create(o.out + "/" + name, std::move(decls), {{"format", "pt"}}, fs));
    for (const Item& it : items) {
      const WeightEntry* e = store->Find(it.tensor->name);
      if (e == nullptr) return Internal(fmt::format("{}: not in the store", it.tensor->name));
      for (uint64_t off = 0; off < e->nbytes; off += buffer.size()) {
        const size_t n = std::min<uint64_t>(buffer.size(), e->nbytes - off);
        OMNI_RETURN_IF_ERROR(store->Read(*e, off, n, buffer.data()));
        OMNI_RETURN_IF_ERROR(writer->Append(buffer.data(), n));
        done += n;
        if (bar) bar->Update(done);
      }
      report.tensors++;
    }
    OMNI_RETURN_IF_ERROR(writer->Finish());
    report.shards++;
  }
  if (bar) bar->Finish();
  for (const StoreFile& f : m.files) {
    if (f.kind != StoreFileKind::kExtra) continue;
    OMNI_RETURN_IF_ERROR(
        CopyFileAtomically(fs, o.store + "/" + f.path, o.out + "/" + f.path).status());
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", report.bytes}}},
                                  {"weight_map", weight_map}};
  OMNI_RETURN_IF_ERROR(
      WriteFileAtomically(fs, o.out + "/" + std::string(kIndexFileName), index.dump(2) + "\n"));
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace omnisage

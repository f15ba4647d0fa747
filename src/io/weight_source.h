// WeightSource: where the engine's weights come from, whatever the layout on disk — an original
// Hugging Face checkpoint (safetensors shards) or an OmniSage expert store (one file per expert).
// Consumers (inspect, extract, repack, later the model loader and the expert cache) see one table
// of tensors and one way to read their bytes.
//
// Thread-safety: after construction a WeightSource is immutable; Read may be called from several
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/file_system.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {

struct WeightEntry {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  uint64_t numel = 0;
  uint64_t nbytes = 0;
  int file = 0;         // index into WeightSource::files()
  uint64_t offset = 0;  // absolute byte offset of the tensor's data in that file
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // "checkpoint" or "expert store".
  virtual std::string_view kind() const = 0;
  virtual const std::string& path() const = 0;
  // The config.json that describes the model, or empty when there is none.
  virtual const std::string& config_path() const = 0;
  // Paths of the files holding tensor data.
  virtual const std::vector<std::string>& files() const = 0;
  // Every tensor, in file order then data order.
  const std::vector<WeightEntry>& tensors() const { return entries_; }
  // nullptr if absent.
  const WeightEntry* Find(std::string_view name) const;

  // Reads bytes [offset, offset + n) of tensor `t` into `dst`.
  virtual Status Read(const WeightEntry& t, uint64_t offset, size_t n, void* dst) const = 0;

  // One tensor's bytes as just read whole (nbytes of them), for VerifyFile.
  struct TensorBytes {
    const WeightEntry* tensor = nullptr;
    const void* data = nullptr;
  };
  // Checks tensors just read against the checksum the source recorded for their file (an expert
  // store's manifest records the XXH3-64 of every file): `parts` are every tensor of one file,
  // whose remaining bytes (the header) are read again. The bytes are hashed as they were read,
  // so what is checked is exactly what the caller will use. OK when the source records no
  // checksums (an original checkpoint). Errors (InvalidArgument: the data is corrupt) name the
  // file and the expected and actual XXH3; a read error is returned as it is.
  virtual Status VerifyFile(std::span<const TensorBytes> parts) const { return Status::Ok(); }

 protected:
  // Subclasses fill entries_ and then call BuildIndex().
  void BuildIndex();
  std::vector<WeightEntry> entries_;

 private:
  std::unordered_map<std::string_view, size_t> index_;
};

// A WeightSource over an original checkpoint (see checkpoint.h for what is accepted and checked).
// `mode`: how its shards are read (io/file.h), what the reads leave in the page cache.
StatusOr<std::unique_ptr<WeightSource>> OpenCheckpointSource(const std::string& path,
                                                             FileSystem* fs = nullptr,
                                                             ReadMode mode = ReadMode::kPread);

}  // namespace omnisage

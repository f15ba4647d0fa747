// EmbeddingTable: a token-embedding matrix [vocab, hidden] in bfloat16, held in memory or read
// row by row from the checkpoint when a token needs it (--embeddings disk). The thinker's table
// is 152,064 × 2,048 = 594 MiB; a prompt touches a few hundred of its rows, so reading them from
// the file costs one 4 KiB read per token and leaves the table out of memory. Rows are read
// through the WeightSource, so they honour --io (direct / drop / cached) like every other weight,
// and a row's values are the file's bits either way: outputs are identical.
//
// Thread-safety: Widen and Row may be called from several threads at once (reads are pread-like;
// the resident table is immutable).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/weight_source.h"
#include "model/weights.h"
#include "util/status.h"

namespace omnisage {

class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  // The whole table in memory (on the ledger as dense). Errors: those of LoadBf16.
  static StatusOr<EmbeddingTable> LoadResident(const WeightSource& source, const std::string& name,
                                               int64_t rows, int64_t cols);
  // Rows read from `source` on demand; `source` must outlive the table. Errors: the tensor is
  // missing, not BF16, or not [rows, cols].
  static StatusOr<EmbeddingTable> OnDisk(const WeightSource& source, const std::string& name,
                                         int64_t rows, int64_t cols);

  bool resident() const { return source_ == nullptr; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // The resident table (REQUIRES: resident()), for a tied lm_head.
  const Bf16Tensor& tensor() const { return table_; }

  // Rows ids[0..n) widened to float32 into out [n, cols]. Errors: an id outside [0, rows), a
  // read that fails (naming the file).
  Status Widen(const int32_t* ids, int64_t n, float* out) const;

 private:
  Bf16Tensor table_;                      // resident
  const WeightSource* source_ = nullptr;  // on disk
  const WeightEntry* entry_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace omnisage

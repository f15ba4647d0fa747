#include "model/embedding_table.h"

#include <fmt/format.h>

#include "tensor/bf16.h"

namespace omnisage {

StatusOr<EmbeddingTable> EmbeddingTable::LoadResident(const WeightSource& source,
                                                      const std::string& name, int64_t rows,
                                                      int64_t cols) {
  EmbeddingTable t;
  OMNI_ASSIGN_OR_RETURN(t.table_, LoadBf16(source, name, {rows, cols}));
  t.rows_ = rows;
  t.cols_ = cols;
  return t;
}

StatusOr<EmbeddingTable> EmbeddingTable::OnDisk(const WeightSource& source, const std::string& name,
                                                int64_t rows, int64_t cols) {
  EmbeddingTable t;
  OMNI_ASSIGN_OR_RETURN(t.entry_, FindBf16(source, name, {rows, cols}));
  t.source_ = &source;
  t.rows_ = rows;
  t.cols_ = cols;
  return t;
}

Status EmbeddingTable::Widen(const int32_t* ids, int64_t n, float* out) const {
  thread_local std::vector<uint16_t> row;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t id = ids[r];
    if (id < 0 || id >= rows_) {
      return InvalidArgument(
          fmt::format("token id {} is outside the embedding table [0, {})", id, rows_));
    }
    const uint16_t* src;
    if (source_ == nullptr) {
      src = table_.ptr() + id * cols_;
    } else {
      row.resize(cols_);
      OMNI_RETURN_IF_ERROR(ReadBf16(*source_, *entry_, static_cast<uint64_t>(id * cols_),
                                    static_cast<uint64_t>(cols_), row.data()));
      src = row.data();
    }
    float* dst = out + r * cols_;
    for (int64_t i = 0; i < cols_; ++i) dst[i] = Bf16ToFloat(src[i]);
  }
  return Status::Ok();
}

}  // namespace omnisage

// Loading weight tensors from a WeightSource into memory, checked against the shape the model
// expects. Weights stay bfloat16 (uint16_t) in memory; kernels widen them on the fly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/weight_source.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

struct Bf16Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<uint16_t> data;  // row-major
  LedgerCharge charge;         // its bytes, on the memory ledger as kDense while it lives

  const uint16_t* ptr() const { return data.data(); }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  uint64_t bytes() const { return data.size() * sizeof(uint16_t); }
};

// Tensor `name` of `source`, checked to be BF16 with exactly `shape`; errors as LoadBf16's.
StatusOr<const WeightEntry*> FindBf16(const WeightSource& source, const std::string& name,
                                      const std::vector<int64_t>& shape);

// Reads tensor `name`, which must be BF16 with exactly `shape`, and charges its bytes to the
// memory ledger (kDense) from the moment they are allocated. Errors name the source, the
// tensor, and what differs.
StatusOr<Bf16Tensor> LoadBf16(const WeightSource& source, const std::string& name,
                              const std::vector<int64_t>& shape);

// Reads `n` consecutive bf16 values of tensor `t`, starting at element `first`, into `dst`.
Status ReadBf16(const WeightSource& source, const WeightEntry& t, uint64_t first, uint64_t n,
                uint16_t* dst);

}  // namespace omnisage

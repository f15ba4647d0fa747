// Loading weight tensors from a WeightSource into memory, checked against the shape the model
// expects. Weights stay as stored — bfloat16 (uint16_t), or int8 where a store was made with
// `extract --quant-dense` — and kernels widen them on the fly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/weight_source.h"
#include "ops/quant.h"
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

// A linear layer's weight [out, in] as the source stores it: bf16, or int8 per row with its f32
// scales (ops/quant.h; the projections `extract --quant-dense` quantizes, tensor_table.h
// QuantizedByQuantDense). Multiply it with ops::MatMulQuant(…, matrix(), …).
struct LinearWeight {
  std::string name;
  int64_t out = 0, in = 0;
  WeightFormat format = WeightFormat::kBf16;
  std::vector<uint8_t> data;  // LayoutOf(format, out, in, 0).total() bytes: [q | scale]
  LedgerCharge charge;        // its bytes, on the memory ledger as kDense while it lives

  QuantMatrix matrix() const { return QuantMatrix::Of(format, out, in, 0, data.data()); }
  uint64_t bytes() const { return data.size(); }
};

// Reads linear weight `name` of `shape` [out, in]: BF16 [out, in], or I8 [out, in] with F32
// `<name>_scale` [out]; charges its bytes to the ledger (kDense). Errors name the source, the
// tensor and what differs (a missing or misshapen scale included). REQUIRES: shape is [out, in].
StatusOr<LinearWeight> LoadLinear(const WeightSource& source, const std::string& name,
                                  const std::vector<int64_t>& shape);

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

// ExpertProvider: how a MoE layer gets a routed expert's weights. Every expert weight the model
// touches comes through this interface, so an implementation decides residency: all experts in
// memory (ResidentExperts, below), or a cache under a byte budget that loads on demand.
//
// Contract: Acquire returns weights that stay valid until the matching Release; a provider may
// block in Acquire (loading from disk). Calls come from the thread running the forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/tensor_table.h"
#include "util/status.h"

namespace omnisage {

// One routed expert: SwiGLU with gate/up [inter, hidden] and down [hidden, inter], bf16 row-major.
struct ExpertWeights {
  const uint16_t* gate = nullptr;
  const uint16_t* up = nullptr;
  const uint16_t* down = nullptr;
};

class ExpertProvider {
 public:
  virtual ~ExpertProvider() = default;
  virtual StatusOr<ExpertWeights> Acquire(int layer, int expert) = 0;
  virtual void Release(int layer, int expert) = 0;
  // Bytes of expert weights held in memory now.
  virtual uint64_t resident_bytes() const = 0;
};

// Reads one expert's three tensors from `source` into `dst` (3 · inter · hidden values: gate, up,
// down). Shapes and dtypes are checked; errors name the tensor.
Status ReadExpert(const WeightSource& source, const DecoderLayerNames& names, int expert,
                  int64_t inter, int64_t hidden, uint16_t* dst);

// Every expert of every MoE layer loaded at start-up (the unlimited baseline).
class ResidentExperts final : public ExpertProvider {
 public:
  static StatusOr<std::unique_ptr<ResidentExperts>> Load(const WeightSource& source,
                                                         const std::string& stack_prefix,
                                                         const DecoderConfig& config);
  StatusOr<ExpertWeights> Acquire(int layer, int expert) override;
  void Release(int layer, int expert) override {}
  uint64_t resident_bytes() const override { return bytes_; }

 private:
  int64_t inter_ = 0, hidden_ = 0, experts_ = 0;
  std::vector<std::vector<uint16_t>>
      layers_;  // [layer] -> experts x (gate, up, down); empty if dense
  uint64_t bytes_ = 0;
};

}  // namespace omnisage

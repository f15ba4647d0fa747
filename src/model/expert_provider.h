// ExpertProvider: how a MoE layer gets a routed expert's weights. Every expert weight the model
// touches comes through this interface, so an implementation decides residency: all experts in
// memory (ResidentExperts, below), or a cache under a byte budget that loads on demand.
//
// Contract: Acquire returns weights that stay valid until the matching Release; a provider may
// block in Acquire (loading from disk). An expert is acquired at most once at a time. Calls come
// from the one thread running the forward pass; a provider may load on threads of its own.
//
// A MoE layer tells the provider what it will do, so loads overlap computation: Expect() names an
// expert that will be Acquired next (it may start loading and count it as held), Prefetch() names
// experts a later layer will probably want (a hint: load into spare room, never block). At most
// max_held() experts are expected or acquired and not yet released at any time; the decoder keeps
// to that, so a provider with a byte budget can always make room.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weight_source.h"
#include "model/config.h"
#include "model/tensor_table.h"
#include "util/memory_ledger.h"
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
  virtual void Expect(int layer, int expert) {}
  virtual void Prefetch(int layer, const int32_t* experts, int n) {}
  virtual int max_held() const { return 1 << 30; }
  // Whether the expert is in memory now (SAGE's focus term prefers resident experts).
  virtual bool IsResident(int layer, int expert) const { return true; }
};

// Reads one expert's three tensors from `source` into `dst` (3 · inter · hidden values: gate, up,
// down). Shapes and dtypes are checked; errors name the tensor and give the shape found. With
// `verify`, the bytes read are checked against the checksum the source records for the expert's
// file (WeightSource::VerifyFile: an expert store's manifest) when the three tensors are its
// whole file.
Status ReadExpert(const WeightSource& source, const DecoderLayerNames& names, int expert,
                  int64_t inter, int64_t hidden, uint16_t* dst, bool verify = false);

// Every expert of every MoE layer loaded at start-up (the unlimited baseline).
class ResidentExperts final : public ExpertProvider {
 public:
  // `verify`: each expert's bytes are checked as ReadExpert's `verify` does. Errors name the
  // layer and the expert.
  static StatusOr<std::unique_ptr<ResidentExperts>> Load(const WeightSource& source,
                                                         const std::string& stack_prefix,
                                                         const DecoderConfig& config,
                                                         bool verify = true);
  StatusOr<ExpertWeights> Acquire(int layer, int expert) override;
  void Release(int layer, int expert) override {}

 private:
  int64_t inter_ = 0, hidden_ = 0, experts_ = 0;
  std::vector<std::vector<uint16_t>>
      layers_;                         // [layer] -> experts x (gate, up, down); empty if dense
  std::vector<LedgerCharge> charges_;  // kExpertCache, one per loaded layer
};

}  // namespace omnisage

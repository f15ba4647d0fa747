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
#include "ops/quant.h"
#include "util/memory_ledger.h"
#include "util/status.h"

namespace omnisage {

// One routed expert: SwiGLU with gate/up [inter, hidden] and down [hidden, inter], row-major, in
// the stack's expert format (DecoderConfig::expert_format: bf16, int8 or int4, ops/quant.h).
struct ExpertWeights {
  QuantMatrix gate, up, down;
};

// Where the three projections of one expert lie in its buffer (bytes): bf16 back to back as in
// the checkpoints; quantized, each projection laid out as ops/quant.h says, starting on a
// 64-byte boundary. `total` is what the expert costs in memory (the cache's charge).
struct ExpertBuffer {
  uint64_t gate_at = 0, up_at = 0, down_at = 0, total = 0;
};
ExpertBuffer ExpertBufferOf(const DecoderConfig& c);
// The expert held in `base` (ExpertBufferOf(c).total bytes).
ExpertWeights ExpertWeightsAt(const DecoderConfig& c, const uint8_t* base);

// Sets c->dense_format from layer 0's q_proj (I8: int8, else bf16), and c->expert_format and
// c->expert_group from the tensors of the stack's first MoE layer's expert 0: BF16 weights are
// bf16; I8 weights with an F32 `<name>_scale` [out] are int8; U8 weights [out, in / 2] with
// `<name>_scale` F32 [out, in / group] are int4. A stack without experts, or whose expert 0 is
// missing, stays bf16 (reading it later names what is missing). Errors name the tensor: a scale or
// zero point that is missing or disagrees with the shape, a group size that is not 32, 64 or 128 or
// does not divide a row.
Status DetectWeightFormat(const WeightSource& source, const std::string& stack_prefix,
                          DecoderConfig* c);

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

// DetectWeightFormat for every decoder stack of the model (the thinker's or qwen3_moe's text
// stack, the talker's, the code predictor's).
Status DetectWeightFormats(const WeightSource& source, ModelConfig* config);

// Reads one expert's tensors from `source` into `dst` (ExpertBufferOf(c).total bytes): gate, up,
// down, each its `.weight` and, when quantized, `.weight_scale` (and int4's
// `.weight_zero_point`). Shapes and dtypes are checked against the stack's expert format; errors
// name the tensor and give the dtype and shape found. With
// `verify`, the bytes read are checked against the checksum the source records for the expert's
// file (WeightSource::VerifyFile: an expert store's manifest) when the three tensors are its
// whole file.
Status ReadExpert(const WeightSource& source, const DecoderLayerNames& names, int expert,
                  const DecoderConfig& c, uint8_t* dst, bool verify = false);

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
  DecoderConfig config_;
  uint64_t expert_bytes_ = 0;
  int64_t experts_ = 0;
  std::vector<std::vector<uint8_t>> layers_;  // [layer] -> experts x ExpertBuffer; empty if dense
  std::vector<LedgerCharge> charges_;         // kExpertCache, one per loaded layer
};

}  // namespace omnisage

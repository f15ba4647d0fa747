// Routing traces: what the router chose, per forward pass, token, component and layer, recorded
// by `run --trace FILE` and replayed by `simulate` (cache policies against Belady's optimum) and
// by SAGE's DREAM state (trust consolidation, the hot set).
//
// Format (docs/simulate.md): JSON Lines. The first line is the header
//   {"omnisage_trace": 1, "model": "...", "total_expert_bytes": N,
//    "components": [{"component": "thinker", "layers": L, "experts": E, "k": K,
//                    "expert_bytes": B, "moe_layers": [..]}]}
// and every further line one routing decision
//   {"step": S, "pos": P, "component": "thinker", "layer": L, "experts": [..], "weights": [..]}
// in the order the engine made them. `step` counts forward passes (a prefill batch is one step,
// each decode token another), so a replay can group a batch's accesses per layer as the engine
// does: each expert once per (step, component, layer), in ascending index order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/file.h"
#include "model/config.h"
#include "model/tensor_table.h"
#include "util/status.h"

namespace omnisage {

// The trace format version this build writes and reads (the header's "omnisage_trace").
inline constexpr int kTraceVersion = 1;

// ComponentName read backwards ("thinker" -> Component::kThinker); nullopt for unknown names.
std::optional<Component> ParseComponentName(std::string_view name);

struct TraceComponent {
  Component component = Component::kThinker;
  int layers = 0;
  int experts = 0;
  int k = 0;
  uint64_t expert_bytes = 0;         // bytes of one routed expert (gate + up + down)
  std::vector<int> moe_layers = {};  // layers with routed experts
};

struct TraceHeader {
  std::string model;
  uint64_t total_expert_bytes = 0;
  std::vector<TraceComponent> components;
  // nullptr when the component is not in the header.
  const TraceComponent* Find(Component c) const;
};

struct TraceRecord {
  int64_t step = 0;
  int64_t pos = 0;
  Component component = Component::kThinker;
  int layer = 0;
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

struct Trace {
  TraceHeader header;
  std::vector<TraceRecord> records;
};

// The header entry describing `config`'s `component` stack: its layers, experts, k, bytes per
// expert and MoE layers — the model's identity as far as routing is concerned.
TraceComponent TraceComponentOf(Component component, const DecoderConfig& config);
// The header a run of `config`'s `component` stack writes.
TraceHeader TraceHeaderOf(const ModelConfig& config, Component component);

// Whether a trace was recorded on the model `expected` describes: every component of `trace`
// must be one of `expected`'s with the same layers, experts, k, expert bytes and MoE layers, and
// the model types must agree. Errors name the trace file (`trace_name`), the model (`model_name`)
// and the first difference.
Status CheckTraceFitsModel(const TraceHeader& trace, const TraceHeader& expected,
                           const std::string& trace_name, const std::string& model_name);

// Appends records to a trace file as they come. Lines are buffered and flushed by Flush() and
// Close(); a run that dies leaves every flushed line readable.
// Each line goes to the file whole (never split across a buffer flush). Append checks nothing
// against the header; ReadTrace does. A writer destroyed without Close() closes the file itself.
class TraceWriter {
 public:
  static StatusOr<std::unique_ptr<TraceWriter>> Create(const std::string& path,
                                                       const TraceHeader& header);
  ~TraceWriter();
  // An error when experts and weights differ in length or a weight is not finite.
  Status Append(const TraceRecord& record);
  Status Flush();
  Status Close();
  const std::string& path() const { return path_; }

 private:
  TraceWriter() = default;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
};

// The header and a record as the one JSON line each that the writer emits (no newline).
std::string TraceHeaderToJsonLine(const TraceHeader& header);
std::string TraceRecordToJsonLine(const TraceRecord& record);

// Reads a whole trace. Errors name the file, the line and the field ("t.jsonl:12: experts[3]:
// expert 200 out of range (128 experts)"). A last line cut short by a crash is an error too.
//
// Checked: the header comes first, has version kTraceVersion, and describes each component once
// with layers, experts, k (1..experts) and expert_bytes positive and moe_layers in [0, layers);
// every record names a header component, a layer among its moe_layers, experts in
// [0, experts) without repeats, as many finite weights as experts, and a step no smaller than
// the previous record's. Blank lines are skipped; unknown keys are ignored.
StatusOr<Trace> ReadTrace(const std::string& path);
// The same from text already in memory; `name` stands for the file in messages.
StatusOr<Trace> ParseTrace(std::string_view text, const std::string& name);

}  // namespace omnisage

#include "runtime/options.h"

#include "util/units.h"

namespace omnisage {

const std::vector<std::string>& EngineModeNames() {
  static const std::vector<std::string> names = {"exact", "sage"};
  return names;
}

const std::vector<std::string>& IoModeNames() {
  static const std::vector<std::string> names = {"direct", "drop", "cached"};
  return names;
}

const std::vector<std::string>& EmbeddingsModeNames() {
  static const std::vector<std::string> names = {"memory", "disk"};
  return names;
}

ReadMode ParseIoMode(const std::string& name) {
  if (name == "drop") return ReadMode::kDropCache;
  if (name == "cached") return ReadMode::kPread;
  return ReadMode::kDirect;
}

Status EngineOptions::Validate() const {
  OMNI_RETURN_IF_ERROR(ValidateOptions(*this));
  if (mode.empty()) return InvalidArgument("--mode must be one of exact, sage (got '')");
  if (!budget.empty()) {
    auto spec = ParseSize(budget);
    if (!spec.ok()) return InvalidArgument("--budget: " + spec.status().message());
  }
  if (!memory.empty()) {
    auto spec = ParseSize(memory);
    if (!spec.ok()) return InvalidArgument("--memory: " + spec.status().message());
    if (spec->is_percent) {
      return InvalidArgument("--memory '" + memory +
                             "': give a size in bytes with a unit (8GiB), not a percentage");
    }
    if (!budget.empty()) {
      return InvalidArgument(
          "--memory and --budget: give one (--memory sets the expert budget from its plan)");
    }
  }
  if (mode != "sage" && (!sage.state.empty() || sage.reward != 0)) {
    return InvalidArgument("--state and --reward need --mode sage");
  }
  return Status::Ok();
}

}  // namespace omnisage

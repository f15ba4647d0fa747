#include "util/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace omnisage {
namespace {

std::string Number(double v, bool integral) {
  if (integral && std::isfinite(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

}  // namespace

Status CheckOption(double value, bool integral, const OptionSpec& spec) {
  const std::string got = Number(value, integral);
  if (!std::isfinite(value)) {
    return InvalidArgument(fmt::format("--{} must be a finite number (got {})", spec.name, got));
  }
  const bool has_min = std::isfinite(spec.min), has_max = std::isfinite(spec.max);
  const bool low = spec.above_min ? value <= spec.min : value < spec.min;
  const bool high = value > spec.max;
  if (!low && !high) return Status::Ok();
  const std::string min = Number(spec.min, integral), max = Number(spec.max, integral);
  if (has_min && has_max && !spec.above_min) {
    return InvalidArgument(
        fmt::format("--{} must be between {} and {} (got {})", spec.name, min, max, got));
  }
  if (low) {
    return InvalidArgument(fmt::format("--{} must be {} {} (got {})", spec.name,
                                       spec.above_min ? ">" : ">=", min, got));
  }
  return InvalidArgument(fmt::format("--{} must be <= {} (got {})", spec.name, max, got));
}

Status CheckOption(const std::string& value, const OptionSpec& spec) {
  if (value.empty()) {
    return spec.required ? InvalidArgument(fmt::format("--{} is required", spec.name))
                         : Status::Ok();
  }
  if (spec.choices != nullptr &&
      std::find(spec.choices->begin(), spec.choices->end(), value) == spec.choices->end()) {
    return InvalidArgument(fmt::format("--{} must be one of {} (got '{}')", spec.name,
                                       fmt::join(*spec.choices, ", "), value));
  }
  return Status::Ok();
}

}  // namespace omnisage

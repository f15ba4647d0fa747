#include "option_flags.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace omnisage::cli {

std::string FlagRegistrar::Help(const OptionSpec& spec, bool integral) {
  std::string help(spec.help);
  if (std::isfinite(spec.min) && std::isfinite(spec.max)) {
    help += integral ? fmt::format(" [{:.0f}, {:.0f}]", spec.min, spec.max)
                     : fmt::format(" [{}, {}]", spec.min, spec.max);
  }
  return help;
}

void FlagRegistrar::operator()(bool& field, const OptionSpec& spec) {
  const bool given = !field;
  app_->add_flag_callback(
      FlagName(spec), [&field, given] { field = given; }, std::string(spec.help));
}

void FlagRegistrar::operator()(std::string& field, const OptionSpec& spec) {
  CLI::Option* opt = app_->add_option(FlagName(spec), field, std::string(spec.help));
  if (!field.empty()) opt->capture_default_str();
  if (spec.required) opt->required();
}

CLI::Validator InRange(const OptionSpec& spec, bool integral) {
  const std::string name(spec.name), prefix = "--" + name + " ";
  const OptionSpec bounds{
      .name = {}, .min = spec.min, .max = spec.max, .above_min = spec.above_min};
  return CLI::Validator(
      [bounds, prefix, integral](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) return "";
        const Status s = CheckOption(v, integral, bounds);
        if (s.ok()) return "";
        // CLI11 names the flag itself: keep "must be ..." alone.
        const size_t at = s.message().find("must be");
        return at == std::string::npos ? s.message() : s.message().substr(at);
      },
      "", name + " range");
}

Status CheckGivenFlags(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_type_size() == 0) continue;  // not given, or a plain flag
    for (const std::string& value : opt->results()) {
      if (value.empty()) {
        return InvalidArgument(
            fmt::format("{} is empty; give it a value, or leave the flag out for its default",
                        opt->get_name()));
      }
    }
  }
  return Status::Ok();
}

}  // namespace omnisage::cli

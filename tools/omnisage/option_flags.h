// The CLI side of options declared once (util/options.h): one CLI11 flag per field an options
// struct's ForEach lists, with the declaration's name, help text and default (the field's
// initializer, shown by --help). Values are not checked while parsing: a command checks them all
// with CheckGivenFlags and the struct's validation before it opens any model file, so every bad
// value gets one kind of message ("--top-p must be between 0 and 1 (got 2)").
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <type_traits>

#include "util/options.h"
#include "util/status.h"

namespace omnisage::cli {

class FlagRegistrar {
 public:
  explicit FlagRegistrar(CLI::App* app) : app_(app) {}

  // A bool is a flag that flips the field from its default.
  void operator()(bool& field, const OptionSpec& spec);
  void operator()(std::string& field, const OptionSpec& spec);
  template <typename T>
  requires std::is_arithmetic_v<T>
  void operator()(T& field, const OptionSpec& spec) {
    app_->add_option(FlagName(spec), field, Help(spec, std::is_integral_v<T>))
        ->capture_default_str();
  }

 private:
  static std::string FlagName(const OptionSpec& spec) { return "--" + std::string(spec.name); }
  // The declared help, and for a number bounded on both sides its range: "... [1, 256]".
  static std::string Help(const OptionSpec& spec, bool integral);
  CLI::App* app_;
};

// Registers a flag for every option of `options` (a struct with ForEach); the flags write into
// `*options`, which must outlive the parse.
template <typename Options>
void AddOptionFlags(CLI::App* app, Options* options) {
  options->ForEach(FlagRegistrar(app));
}

// For a number flag that is not in an options struct: a CLI11 check against `spec`'s range with
// CheckOption's wording, "--window: must be >= 1 (got 0)" (a value that is not a number is left
// to CLI11's conversion error).
CLI::Validator InRange(const OptionSpec& spec, bool integral);

// What only the command line can tell: a flag given with an empty value (--budget "") is an
// error, not the flag's default.
Status CheckGivenFlags(const CLI::App& app);

}  // namespace omnisage::cli

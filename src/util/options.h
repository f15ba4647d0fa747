// Options declared once (the habit of gemma.cpp's ArgsBase::ForEach). An options struct lists
// each of its user-facing fields exactly once, in one member function
//
//   template <typename Visitor>
//   void ForEach(Visitor&& v) {
//     v(io_threads, {.name = "io-threads", .help = "Threads loading experts", .min = 1,
//                    .max = kMaxIoThreads});
//     ...
//   }
//
// which gives the field its flag name, help text and valid values; the field's initializer is its
// default. A struct that embeds another (the engine's options embed the cache's) calls the inner
// struct's ForEach from its own. Everything that needs the list visits it: the CLI registers one
// flag per field (tools/omnisage/option_flags.h) and ValidateOptions checks the values, so a new
// option is one line in one struct. Fields set by code rather than by a user (a callback, a
// budget already resolved to bytes) are simply not listed.
//
// A visitor is called as v(field, spec) with field an lvalue of type bool, std::string or an
// arithmetic type. ForEach is non-const; a visitor that only reads (ValidateOptions) visits a
// const struct through const_cast and never writes.
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/status.h"

namespace omnisage {

struct OptionSpec {
  std::string_view name = {};  // the flag without its dashes: "io-threads"
  std::string_view help = {};  // one line for --help
  // Numbers: the valid range, inclusive (NaN and the infinities are never valid).
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool above_min = false;  // min itself is not valid ("> 0")
  // Strings: "" means "not set" (the flag was not given), valid unless `required`; any other
  // value must be one of `choices` when that is not null.
  const std::vector<std::string>* choices = nullptr;
  bool required = false;
  // Bools are flags: giving the flag flips the field from its default, so a field that defaults
  // to true is named for turning it off ("no-prefetch").
};

// The checks of one value against its spec; errors read "--top-p must be between 0 and 1 (got
// 2)", naming the flag.
Status CheckOption(double value, bool integral, const OptionSpec& spec);
Status CheckOption(const std::string& value, const OptionSpec& spec);

// The visitor behind ValidateOptions: keeps the first error.
class OptionChecker {
 public:
  void operator()(const bool&, const OptionSpec&) {}
  void operator()(const std::string& value, const OptionSpec& spec) {
    if (status_.ok()) status_ = CheckOption(value, spec);
  }
  template <typename T>
  requires std::is_arithmetic_v<T>
  void operator()(const T& value, const OptionSpec& spec) {
    if (status_.ok())
      status_ = CheckOption(static_cast<double>(value), std::is_integral_v<T>, spec);
  }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Checks every option `options.ForEach` lists against its spec; returns the first error.
template <typename Options>
Status ValidateOptions(const Options& options) {
  OptionChecker checker;
  const_cast<Options&>(options).ForEach(checker);
  return checker.status();
}

}  // namespace omnisage

#include "util/units.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <string>

namespace omnisage {

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int unit = -1;
  // Step up while the value would print as 1024.00 or more in the current unit.
  while (v >= 1024.0 - 0.005 && unit < 4) {
    v /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.2f} {}", v, kUnits[unit]);
}

std::string FormatCount(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  int lead = static_cast<int>(digits.size() % 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (static_cast<int>(i) - lead) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

StatusOr<SizeSpec> ParseSize(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format("size '{}': {}", text, why));
  };
  auto digits = [&](size_t i) {
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    return i;
  };
  size_t i = digits(0);
  if (i == 0) return bad("expected a number, e.g. 2GiB, 512MiB or 25%");
  // An exponent ("1e3", "2.5E+2") belongs to the number, not to the unit.
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    if (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) i = digits(j);
  }
  std::string number(text.substr(0, i));
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return bad("bad number");
  if (!std::isfinite(value)) return bad("too large");
  std::string unit(text.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  SizeSpec spec;
  if (unit == "%") {
    if (value <= 0 || value > 100) return bad("a percentage must be in (0, 100]");
    spec.is_percent = true;
    spec.percent = value;
    return spec;
  }
  std::string u;
  for (char c : unit) u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  double mult;
  if (u.empty() || u == "B") {
    mult = 1;
  } else if (u == "K" || u == "KIB") {
    mult = 1024.0;
  } else if (u == "M" || u == "MIB") {
    mult = 1024.0 * 1024;
  } else if (u == "G" || u == "GIB") {
    mult = 1024.0 * 1024 * 1024;
  } else if (u == "T" || u == "TIB") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else if (u == "KB") {
    mult = 1e3;
  } else if (u == "MB") {
    mult = 1e6;
  } else if (u == "GB") {
    mult = 1e9;
  } else if (u == "TB") {
    mult = 1e12;
  } else {
    return bad("unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB or %)");
  }
  double bytes = value * mult;
  if (bytes >= 0x1p64) return bad("too large: more than 2^64 bytes (16 EiB)");
  spec.bytes = static_cast<uint64_t>(std::llround(bytes));
  return spec;
}

}  // namespace omnisage

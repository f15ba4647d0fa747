#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <cctype>

#include "tokenizer/unicode_compat.h"

namespace omnisage {
namespace {

// Oniguruma's \s: the Unicode White_Space property. PCRE2 10.42 also counts U+180E.
constexpr std::string_view kSpaceClass =
    R"(\x{09}-\x{0d}\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000})";

std::string RangesClass(std::span<const CodePointRange> ranges) {
  std::string out;
  for (const CodePointRange& r : ranges) {
    out += fmt::format("\\x{{{:x}}}", static_cast<uint32_t>(r.first));
    if (r.last != r.first) out += fmt::format("-\\x{{{:x}}}", static_cast<uint32_t>(r.last));
  }
  return out;
}

// The body of a class that means what `escape` (e.g. "\s", "\p{L}") means to Oniguruma, or "" when
// PCRE2 already agrees.
std::string ClassBody(std::string_view escape) {
  if (escape == "\\s") return std::string(kSpaceClass);
  if (escape == "\\p{L}") return "\\p{L}" + RangesClass(LettersSinceUnicode14());
  if (escape == "\\p{N}") return "\\p{N}" + RangesClass(NumbersSinceUnicode14());
  return "";
}

// `(?i:` group content made of plain literals and `|`: returns the ASCII-only case-insensitive
// spelling ("'s|'t" -> "'[sS]|'[tT]"), or false when the group holds anything else.
bool AsciiCaselessGroup(std::string_view body, std::string* out) {
  for (char c : body) {
    if (std::string_view("\\[](){}?*+.^$").find(c) != std::string_view::npos) return false;
  }
  for (char c : body) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      const char lo = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const char up = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      *out += fmt::format("[{}{}]", lo, up);
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// The escape sequence starting at pattern[i] (a backslash): "\s", "\p{L}", "\x{85}", "\n"...
size_t EscapeLength(std::string_view pattern, size_t i) {
  if (i + 1 >= pattern.size()) return 1;
  const char c = pattern[i + 1];
  if ((c == 'p' || c == 'P' || c == 'x') && i + 2 < pattern.size() && pattern[i + 2] == '{') {
    const size_t close = pattern.find('}', i + 3);
    if (close != std::string_view::npos) return close - i + 1;
  }
  return 2;
}

struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);

  ThreadMatchState() {
    if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string RewritePatternForPcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() * 2);
  bool in_class = false;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\') {
      const size_t len = EscapeLength(pattern, i);
      const std::string_view escape = pattern.substr(i, len);
      std::string body = ClassBody(escape);
      if (escape == "\\S" && !in_class) {
        out += "[^" + ClassBody("\\s") + "]";
      } else if (body.empty()) {
        out.append(escape);
      } else if (in_class) {
        out += body;
      } else {
        out += "[" + body + "]";
      }
      i += len;
      continue;
    }
    if (in_class) {
      // A ']' right after '[' or '[^' is a literal; POSIX classes like [:alpha:] stay as they are.
      if (c == '[' && pattern.substr(i, 2) == "[:") {
        const size_t close = pattern.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(pattern.substr(i, close + 2 - i));
          i = close + 2;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      ++i;
      if (i < pattern.size() && pattern[i] == '^') out.push_back(pattern[i++]);
      if (i < pattern.size() && pattern[i] == ']') out.push_back(pattern[i++]);
      continue;
    }
    if (pattern.substr(i, 4) == "(?i:") {
      const size_t close = pattern.find(')', i + 4);
      std::string group;
      if (close != std::string_view::npos &&
          AsciiCaselessGroup(pattern.substr(i + 4, close - i - 4), &group)) {
        out += "(?:" + group + ")";
        i = close + 1;
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

PreTokenizer::~PreTokenizer() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(std::string_view pattern,
                                                             std::string_view source) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  p->pattern_ = RewritePatternForPcre2(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p->pattern_.data()), p->pattern_.size(),
                    PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return InvalidArgument(fmt::format("{}: split pattern: {} at offset {} of '{}'", source,
                                       reinterpret_cast<const char*>(message), offset,
                                       p->pattern_));
  }
  p->code_ = code;
  // JIT is an optimisation: without it (unsupported CPU, no executable memory) PCRE2 interprets.
  p->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return p;
}

void PreTokenizer::Split(std::string_view text,
                         std::vector<std::pair<size_t, size_t>>* pieces) const {
  auto* code = static_cast<pcre2_code*>(code_);
  ThreadMatchState& state = MatchState();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last_end = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    int rc =
        pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, state.data, state.context);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && jit_) {
      // E.g. the JIT stack is exhausted: the interpreter keeps its frames on the heap.
      rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       state.data, state.context);
    }
    if (rc < 0) break;  // no further match; the rest is one piece below
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
    const size_t begin = ov[0];
    const size_t end = ov[1];
    if (end > begin) {
      if (begin > last_end) pieces->emplace_back(last_end, begin);
      pieces->emplace_back(begin, end);
      last_end = end;
      pos = end;
    } else {
      // An empty match yields no piece (HF drops empty splits): step over one character.
      if (begin >= text.size()) break;
      pos = begin + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
    }
  }
  if (last_end < text.size()) pieces->emplace_back(last_end, text.size());
}

}  // namespace omnisage

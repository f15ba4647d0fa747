// omnisage tokenize: text to token ids with a model directory's tokenizer, one JSON array per text.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "io/file.h"
#include "tokenizer/tokenizer.h"

namespace omnisage::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string input_jsonl;
};

std::string IdsJson(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  return out;
}

// Each non-blank line is a JSON string, or an object with a string "text" (the golden files).
int TokenizeJsonl(const Tokenizer& tokenizer, const std::string& path) {
  auto contents = ReadFileToString(path);
  if (!contents.ok()) return ReportError(contents.status().message());
  const std::string& text = *contents;
  std::string out;
  size_t pos = 0;
  for (size_t line_no = 1; pos < text.size(); ++line_no) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_object() && value.contains("text")) value = value["text"];
    if (!value.is_string()) {
      std::fwrite(out.data(), 1, out.size(), stdout);  // the lines before stay usable
      return ReportError(fmt::format(
          "{}: line {}: {}", path, line_no,
          value.is_discarded() ? "invalid JSON" : "expected a JSON string or {\"text\": ...}"));
    }
    out += IdsJson(tokenizer.Encode(value.get_ref<const std::string&>()));
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int RunTokenize(const TokenizeArgs& a) {
  auto tokenizer = Tokenizer::Load(a.model);
  if (!tokenizer.ok()) return ReportError(tokenizer.status().message());
  if (!a.input_jsonl.empty()) return TokenizeJsonl(**tokenizer, a.input_jsonl);
  const std::string out = IdsJson((*tokenizer)->Encode(a.text));
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand(
      "tokenize", "Print the token ids of a text (or of each line of a JSONL file) as JSON arrays");
  sub->add_option("--model", args->model,
                  "Model directory with tokenizer.json (or vocab.json + merges.txt)")
      ->required();
  auto* text = sub->add_option("--text", args->text, "The text to tokenize");
  auto* jsonl = sub->add_option("--input-jsonl", args->input_jsonl,
                                "A file with one JSON string (or {\"text\": ...} object) per line; "
                                "prints one JSON array of ids per line");
  text->excludes(jsonl);
  sub->callback([args, text, jsonl, exit_code] {
    if (text->count() == 0 && jsonl->count() == 0) {
      *exit_code = ReportError("tokenize: give --text TEXT or --input-jsonl FILE");
      return;
    }
    *exit_code = RunTokenize(*args);
  });
}

}  // namespace omnisage::cli

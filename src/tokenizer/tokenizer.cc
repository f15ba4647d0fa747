#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/utf8.h"

namespace omnisage {
namespace {

constexpr int8_t kBpeToken = 0;
constexpr int8_t kAddedToken = 1;
constexpr int8_t kSpecialToken = 2;
// Ids index dense tables; a file with a larger one is rejected rather than allocated for.
constexpr int32_t kMaxTokenId = 1 << 24;

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_dir,
                                                     const TokenizerOptions& options) {
  OMNI_ASSIGN_OR_RETURN(TokenizerDefinition def, ReadTokenizerDefinition(model_dir));
  return Build(std::move(def), options);
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text,
                                                         std::string_view source,
                                                         const TokenizerOptions& options) {
  OMNI_ASSIGN_OR_RETURN(TokenizerDefinition def, ParseTokenizerJson(json_text, source));
  return Build(std::move(def), options);
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Build(TokenizerDefinition&& def,
                                                      const TokenizerOptions& options) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->nfc_ = def.nfc;
  OMNI_ASSIGN_OR_RETURN(
      t->bpe_, BpeModel::Create(def.vocab, def.merges, def.source, options.cache_capacity));
  if (!def.split_pattern.empty()) {
    OMNI_ASSIGN_OR_RETURN(t->pre_tokenizer_,
                          PreTokenizer::Create(def.split_pattern, def.source + ": pre_tokenizer"));
  }
  int32_t max_id = -1;
  for (const auto& [token, id] : def.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& a : def.added_tokens) max_id = std::max(max_id, a.id);
  if (max_id >= kMaxTokenId) {
    return InvalidArgument(fmt::format("{}: token id {} is beyond the supported {}", def.source,
                                       max_id, kMaxTokenId - 1));
  }
  t->token_bytes_.assign(static_cast<size_t>(max_id) + 1, std::string());
  t->added_kind_.assign(static_cast<size_t>(max_id) + 1, kBpeToken);
  for (const auto& [token, id] : def.vocab) {
    std::string& bytes = t->token_bytes_[id];
    // A token with a character outside the byte alphabet decodes to its own UTF-8, as in HF.
    if (!ByteLevelToBytes(token, &bytes)) bytes = token;
  }
  t->vocab_ = std::move(def.vocab);
  t->added_tokens_ = std::move(def.added_tokens);
  std::vector<const AddedToken*> raw;
  std::vector<const AddedToken*> normalized;
  for (const AddedToken& a : t->added_tokens_) {
    t->token_bytes_[a.id] = a.content;
    t->added_kind_[a.id] = a.special ? kSpecialToken : kAddedToken;
    t->added_ids_[a.content] = a.id;
    (a.normalized ? normalized : raw).push_back(&a);
  }
  t->raw_matcher_ = std::make_unique<AddedTokenMatcher>(raw);
  t->normalized_matcher_ = std::make_unique<AddedTokenMatcher>(normalized);
  return t;
}

void Tokenizer::EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  if (pre_tokenizer_ == nullptr) {
    bpe_->Encode(text, ids);
    return;
  }
  std::vector<std::pair<size_t, size_t>> pieces;
  pre_tokenizer_->Split(text, &pieces);
  for (const auto& [begin, end] : pieces) bpe_->Encode(text.substr(begin, end - begin), ids);
}

void Tokenizer::EncodePlain(std::string_view text, std::vector<int32_t>* ids) const {
  std::string normalized;
  if (nfc_) text = ToNfc(text, &normalized);
  if (normalized_matcher_->empty()) {
    EncodeNormalized(text, ids);
    return;
  }
  std::vector<TextSegment> segments;
  normalized_matcher_->Split(text, &segments);
  for (const TextSegment& s : segments) {
    if (s.id >= 0) {
      ids->push_back(s.id);
    } else {
      EncodeNormalized(text.substr(s.begin, s.end - s.begin), ids);
    }
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = ToValidUtf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  if (raw_matcher_->empty()) {
    EncodePlain(text, &ids);
    return ids;
  }
  std::vector<TextSegment> segments;
  raw_matcher_->Split(text, &segments);
  for (const TextSegment& s : segments) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      EncodePlain(text.substr(s.begin, s.end - s.begin), &ids);
    }
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  std::string bytes;  // BPE bytes since the last added token, repaired together
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const int8_t kind = added_kind_[id];
    if (kind == kBpeToken) {
      bytes += token_bytes_[id];
      continue;
    }
    if (kind == kSpecialToken && skip_special) continue;
    AppendUtf8Lossy(bytes, &out);
    bytes.clear();
    out += token_bytes_[id];
  }
  AppendUtf8Lossy(bytes, &out);
  return out;
}

int32_t Tokenizer::TokenId(std::string_view token) const {
  const std::string key(token);
  if (auto it = added_ids_.find(key); it != added_ids_.end()) return it->second;
  if (auto it = vocab_.find(key); it != vocab_.end()) return it->second;
  return -1;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && added_kind_[id] == kSpecialToken;
}

bool Tokenizer::IsAdded(int32_t id) const {
  return id >= 0 && id < vocab_size() && added_kind_[id] != kBpeToken;
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return token_bytes_[id];
}

}  // namespace omnisage

#include "speech/code_predictor.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/tensor_table.h"
#include "ops/ops.h"
#include "tensor/bf16.h"
#include "util/thread_pool.h"

namespace omnisage {
namespace {

constexpr const char* kPrefix = "talker.code_predictor.";

void AddRow(const Bf16Tensor& table, int64_t row, float* dst) {
  const int64_t h = table.shape[1];
  const uint16_t* src = table.ptr() + row * h;
  for (int64_t i = 0; i < h; ++i) dst[i] += Bf16ToFloat(src[i]);
}

}  // namespace

StatusOr<std::unique_ptr<CodePredictor>> CodePredictor::Load(const WeightSource& source,
                                                             const TalkerConfig& config) {
  const DecoderConfig& c = config.code_predictor;
  if (config.num_code_groups < 2) {
    return InvalidArgument(
        fmt::format("talker_config: num_code_groups {} (expected >= 2)", config.num_code_groups));
  }
  if (c.num_experts != 0) {
    return InvalidArgument("talker_config.code_predictor_config: expected a dense decoder");
  }
  std::unique_ptr<CodePredictor> p(new CodePredictor());
  p->groups_ = config.num_code_groups;
  OMNI_ASSIGN_OR_RETURN(
      p->decoder_, MoeDecoder::Load(source, c, std::string(kCodePredictorStackPrefix), nullptr));
  p->decoder_->set_prefetch(false);
  for (int64_t g = 0; g + 1 < p->groups_; ++g) {
    OMNI_ASSIGN_OR_RETURN(
        Bf16Tensor e, LoadBf16(source, fmt::format("{}model.codec_embedding.{}.weight", kPrefix, g),
                               {c.vocab_size, c.hidden_size}));
    OMNI_ASSIGN_OR_RETURN(Bf16Tensor h,
                          LoadBf16(source, fmt::format("{}lm_head.{}.weight", kPrefix, g),
                                   {c.vocab_size, c.hidden_size}));
    p->embeddings_.push_back(std::move(e));
    p->heads_.push_back(std::move(h));
  }
  OMNI_ASSIGN_OR_RETURN(
      p->norm_, LoadBf16(source, std::string(kPrefix) + "model.norm.weight", {c.hidden_size}));
  p->cache_ = p->decoder_->NewCache(p->groups_);
  p->cache_charge_ = LedgerCharge(MemoryKind::kKvCache, p->cache_.bytes());
  p->normed_.resize(c.hidden_size);
  p->logits_.resize(c.vocab_size);
  p->scratch_charge_ =
      LedgerCharge(MemoryKind::kActivations, (c.hidden_size + c.vocab_size) * sizeof(float));
  return p;
}

Status CodePredictor::Predict(const float* talker_hidden, const float* code0_embedding,
                              const TokenChooser& choose, int32_t* codes, float* embedding_sum,
                              ThreadPool* pool, float* logits) {
  const DecoderConfig& c = decoder_->config();
  const int64_t h = c.hidden_size, vocab = c.vocab_size;
  cache_.Clear();
  decoder_->Reserve(2, cache_.capacity(), pool != nullptr ? pool->num_threads() : 1);
  float* x = decoder_->activations().x.data();  // [n, hidden]
  std::copy_n(talker_hidden, h, x);
  std::copy_n(code0_embedding, h, x + h);
  int64_t n = 2;
  for (int64_t g = 0; g + 1 < groups_; ++g) {
    OMNI_RETURN_IF_ERROR(decoder_->Forward(x, n, &cache_, pool));
    ops::RmsNorm(x + (n - 1) * h, norm_.ptr(), h, static_cast<float>(c.rms_norm_eps),
                 normed_.data());
    ops::MatMulBf16(normed_.data(), 1, h, heads_[g].ptr(), vocab, logits_.data(), pool);
    if (logits != nullptr) std::copy_n(logits_.data(), vocab, logits + g * vocab);
    const int32_t code = choose(logits_.data(), vocab);
    if (code < 0 || code >= vocab) {
      return Internal(fmt::format("code predictor: chose code {} outside [0, {})", code, vocab));
    }
    codes[g] = code;
    AddRow(embeddings_[g], code, embedding_sum);
    std::fill_n(x, h, 0.0f);
    AddRow(embeddings_[g], code, x);  // the next step's input
    n = 1;
  }
  return Status::Ok();
}

}  // namespace omnisage

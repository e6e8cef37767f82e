#include "model/generation.h"

#include <chrono>

#include <ATen/ATen.h>

namespace mha2mla {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

at::Tensor next_positions(const at::Tensor& positions, const at::Tensor& attention_mask) {
  at::Tensor p = positions;
  if (attention_mask.defined()) {
    at::Tensor valid = attention_mask.to(at::kBool);
    p = p.masked_fill(p.dim() == 3 ? at::logical_not(valid).unsqueeze(0) : at::logical_not(valid), -1);
  }
  if (p.dim() == 3) {
    at::Tensor next = std::get<0>(p.amax({0}, false).max(-1, true)) + 1;  // [B, 1]
    return next.unsqueeze(0).expand({3, next.size(0), 1}).contiguous();
  }
  return std::get<0>(p.max(-1, true)) + 1;
}

GreedyResult generate_greedy(TextModel& model, const GreedyRequest& request) {
  at::NoGradGuard no_grad;
  GreedyResult result;
  const int64_t B = request.prompt_embeddings.size(0);
  auto device = request.prompt_embeddings.device();
  at::Tensor finished = at::zeros({B}, at::TensorOptions().dtype(at::kBool).device(device));
  std::vector<at::Tensor> tokens, logits_per_step;

  // Running state: everything fed so far (used directly without a cache).
  at::Tensor all_embeddings = request.prompt_embeddings;
  TextBatch all = request.prompt;
  if (!all.attention_mask.defined())
    all.attention_mask = at::ones({B, request.prompt_embeddings.size(1)}, at::TensorOptions().dtype(at::kLong).device(device));
  if (!all.image_mask.defined())
    all.image_mask = at::zeros({B, request.prompt_embeddings.size(1)}, at::TensorOptions().dtype(at::kBool).device(device));

  ModelCache cache;
  if (request.use_cache) cache = model.make_cache(request.path, request.cache_options);
  ForwardOptions options;
  options.path = request.path;
  options.cache = request.use_cache ? &cache : nullptr;

  auto start = std::chrono::steady_clock::now();
  at::Tensor hidden = model.forward(all_embeddings, all, options);
  result.prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();

  for (int64_t step = 0; step < request.max_new_tokens; ++step) {
    at::Tensor last_logits = model.logits(hidden.narrow(1, hidden.size(1) - 1, 1)).squeeze(1).to(at::kFloat);
    at::Tensor next = last_logits.argmax(-1);
    if (request.eos_token_id >= 0) {
      next = at::where(finished, at::full_like(next, request.eos_token_id), next);
      finished = finished | (next == request.eos_token_id);
    }
    tokens.push_back(next);
    logits_per_step.push_back(last_logits);
    if (step + 1 == request.max_new_tokens || finished.all().item<bool>()) break;

    // Feed the chosen token.
    at::Tensor embedding = model.embed(next.unsqueeze(1));
    TextBatch step_batch;
    step_batch.positions = next_positions(all.positions, all.attention_mask);
    step_batch.attention_mask = at::ones({B, 1}, all.attention_mask.options());
    step_batch.image_mask = at::zeros({B, 1}, all.image_mask.options());

    all.positions = at::cat({all.positions, step_batch.positions}, -1);
    all.attention_mask = at::cat({all.attention_mask, step_batch.attention_mask}, 1);
    all.image_mask = at::cat({all.image_mask, step_batch.image_mask}, 1);
    if (request.use_cache) {
      hidden = model.forward(embedding, step_batch, options);
    } else {
      all_embeddings = at::cat({all_embeddings, embedding}, 1);
      hidden = model.forward(all_embeddings, all, options);
    }
  }
  result.decode_seconds = seconds_since(start);
  result.tokens = at::stack(tokens, 1);
  result.step_logits = at::stack(logits_per_step, 1);
  result.cache_bytes = request.use_cache ? cache.bytes() : 0;
  return result;
}

std::pair<at::Tensor, at::Tensor> next_token_cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t T = logits.size(1);
  at::Tensor predicted = logits.narrow(1, 0, T - 1).to(logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  at::Tensor target = labels.narrow(1, 1, T - 1);
  at::Tensor counted = target != -100;
  at::Tensor safe_target = target.masked_fill(at::logical_not(counted), 0);
  at::Tensor log_probs = at::log_softmax(predicted, -1);
  at::Tensor nll = -log_probs.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1);
  return {nll.masked_fill(at::logical_not(counted), 0.0), counted};
}

}  // namespace mha2mla

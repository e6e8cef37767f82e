// Greedy decoding with a KV cache (teacher: keys/values; student: latents), and per-token cross-entropy.
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>

#include "model/text_model.h"

namespace mha2mla {

struct GreedyRequest {
  at::Tensor prompt_embeddings;  // [B, T, hidden]
  TextBatch prompt;              // positions / attention_mask (left padding) / image_mask of the prompt
  int64_t max_new_tokens = 16;
  int64_t eos_token_id = -1;     // sequences stop (and pad with it) after producing this id; -1 = never
  AttentionPath path = AttentionPath::teacher;
  bool use_cache = true;         // false: re-run the whole sequence every step (the reference for the cache)
  LatentCacheOptions cache_options;  // the student's latent cache storage (quantisation); the teacher takes none
};

struct GreedyResult {
  at::Tensor tokens;             // int64 [B, new tokens]
  at::Tensor step_logits;        // float32 [B, new tokens, vocab]: the logits each token was chosen from
  int64_t cache_bytes = 0;       // bytes the cache held at the end
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

GreedyResult generate_greedy(TextModel& model, const GreedyRequest& request);

// The positions of the next token for each row: one past the largest position used so far (for M-RoPE,
// over all three axes, as HF's rope_deltas give), as [B, 1] or [3, B, 1].
at::Tensor next_positions(const at::Tensor& positions, const at::Tensor& attention_mask);

// Next-token cross-entropy per position: logits [B, T, V] predict labels shifted by one; labels -100 are
// ignored. Returns [B, T-1] losses (0 where ignored) and the mask of counted positions.
std::pair<at::Tensor, at::Tensor> next_token_cross_entropy(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace mha2mla

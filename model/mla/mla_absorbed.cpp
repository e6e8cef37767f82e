// Decoding with absorbed up-projections (shared/method.md section 6): past tokens stay compressed.
//
// Per query head i (KV group g = g(i)) and cached token j of modality m(j):
//
//   k_N,j = W_upk^{m(j),(g)} c_k,j + b_k^(g)       =>  q_N . k_N,j = (q_N W_upk^{m(j),(g)}) . c_k,j + q_N . b_k^(g)
//   score_ij = (q_R . k_R,j + q~^{m(j)} . c_k,j) / sqrt(head_dim)       q~^m = q_N W_upk^{m,(g)}: one per modality
//   o_i = sum_j a_ij v_j = W_upv^{text,(g)} sum_{j text} a_ij c_v,j + W_upv^{img,(g)} sum_{j img} a_ij c_v,j + b_v^(g)
//
// q_N . b_k^(g) is the same for every key j of a query, so softmax cancels it and it is left out; b_v survives
// whole because the a_ij sum to 1. The latent is one row per token shared by all KV heads, so the latent part of
// the scores is one [heads * T, width] x [width, S] product per batch row.
//
// Image tokens are usually a small part of a long context, so the text absorption runs over every key and image
// keys get a correction computed on them alone (gathered through LatentKvCache::image_positions):
//
//   score_ij  += (q~^img - q~^text) . c_k,j                                   for image keys j
//   o_i        = W_upv^text (sum_j a_ij c_v,j - P_i) + W_upv^img P_i + b_v,   P_i = sum_{j img} a_ij c_v,j
#include <cmath>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

// [G * rows, cols] up-projection weight -> [G, rows, cols]: KV head g's block.
at::Tensor per_kv_head(const at::Tensor& weight, int64_t kv_heads) {
  return weight.view({kv_heads, weight.size(0) / kv_heads, weight.size(1)});
}

// rows [B, S, w] at index [B, N] -> [B, N, w].
at::Tensor gather_keys(const at::Tensor& rows, const at::Tensor& index) {
  return rows.gather(1, index.unsqueeze(-1).expand({index.size(0), index.size(1), rows.size(-1)}));
}

}  // namespace

at::Tensor MlaAttention::attend_absorbed(const at::Tensor& q, const LatentKvCache& cache, const at::Tensor& bias) const {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), G = layout_.kv_heads, group = H / G;
  const int64_t r = layout_.rope_dims, d = layout_.head_dim, S = cache.length();
  at::Tensor latent = cache.latent();  // [B, S, width]
  auto [k_offset, k_width] = key_latent_span(latent.size(-1));
  auto [v_offset, v_width] = value_latent_span(latent.size(-1));
  at::Tensor c_k = latent.narrow(-1, k_offset, k_width), c_v = latent.narrow(-1, v_offset, v_width);
  const bool mixed = layout_.modality_split() && cache.has_image_tokens();

  // Queries grouped by KV head: [B, G, group * T, .] (head i = g * group + k, rows ordered (k, t)), with the softmax
  // scale applied here, on the few query values, rather than on the long score rows.
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor q_rope = q.narrow(-1, 0, r).reshape({B * G, group * T, r}) * scale;
  at::Tensor q_nope = q.narrow(-1, r, d - r).reshape({B, G, group * T, d - r}) * scale;
  auto absorb = [&](const LatentProjections& p) {  // q~ = q_N W_upk^(g): [B, H * T, k_width]
    return at::matmul(q_nope, per_kv_head(p.k_up.weight, G)).view({B, H * T, k_width});
  };

  // Scores: the latent part against the shared latent rows, plus the RoPE part per KV head (accumulated in place).
  at::Tensor absorbed_text = absorb(text);
  at::Tensor scores = at::matmul(absorbed_text, c_k.transpose(-2, -1));  // [B, H * T, S]
  scores.view({B * G, group * T, S}).baddbmm_(q_rope, cache.rope_keys().reshape({B * G, S, r}).transpose(1, 2));
  at::Tensor image_index, image_valid, image_scatter;  // [B, N], [B, 1, N], [B, H * T, N]
  if (mixed) {
    std::tie(image_index, image_valid) = cache.image_positions();
    image_valid = image_valid.unsqueeze(1).to(scores.scalar_type());
    image_scatter = image_index.unsqueeze(1).expand({B, H * T, image_index.size(1)});
    at::Tensor correction = at::matmul(absorb(image) - absorbed_text, gather_keys(c_k, image_index).transpose(-2, -1));
    scores.scatter_add_(2, image_scatter, correction * image_valid);  // padded entries add 0 to key 0
  }
  if (bias.defined()) scores.view({B, G, group, T, S}).add_(bias.unsqueeze(1));
  at::ScalarType softmax_type = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;  // as grouped_attention
  at::Tensor probs = at::softmax(scores, -1, softmax_type).to(q.scalar_type());             // [B, H * T, S]

  // Values: pool the latents with the probabilities, then up-project once per KV head.
  auto up = [&](const at::Tensor& pooled, const at::Tensor& v_up_weight) {  // [B, H * T, v_width] -> [B, G, gT, d]
    return at::matmul(pooled.view({B, G, group * T, v_width}), per_kv_head(v_up_weight, G).transpose(-2, -1));
  };
  at::Tensor pooled = at::matmul(probs, c_v);  // [B, H * T, v_width]: every key, as if all were text
  at::Tensor out;
  if (mixed) {
    at::Tensor image_pooled = at::matmul(probs.gather(2, image_scatter) * image_valid, gather_keys(c_v, image_index));
    out = up(pooled - image_pooled, text.v_up.weight) + up(image_pooled, image.v_up.weight);
  } else {
    out = up(pooled, text.v_up.weight);
  }
  if (v_up_bias.defined()) out = out + v_up_bias.view({G, 1, d});
  return out.view({B, H, T, d});
}

}  // namespace mha2mla

// The converted attention (shared/method.md section 2), one layer:
//
//   q       = W_q x + b_q                                   (the teacher's q_proj, plus the student's LoRA)
//   k_R     = RoPE_R(W_kR x + b_kR)                         cached: rope_dims per KV head
//   c       = W_down^{m(t)} x                               cached: the latent, kv_heads * latent_rank wide
//   k_N     = W_upk^{m(t)} c + b_k[R^c]
//   v       = W_upv^{m(t)} c + b_v
//   score   = (q_R . k_R + q_N . k_N) / sqrt(head_dim)
//   o       = W_o concat_i softmax(score) v                 (the teacher's o_proj, plus LoRA)
//
// m(t) is the token's modality: image tokens use their own down/up projections, text tokens theirs (the
// `shared` variant has one set). `split` keeps two half-width latents, c_k for keys and c_v for values.
//
// With a LatentKvCache, a step that starts from an empty cache (prefill) decompresses the cached latents as
// above; later steps (decoding) attend without decompressing past tokens (method.md section 6, see
// attend_absorbed in mla_absorbed.cpp).
//
// Under tensor parallelism the student computes the teacher's heads of this rank (model/tensor_parallel.h): the
// latent c, shared by every head, is computed whole on every rank; k_rope_proj, the up projections and their
// biases hold this rank's KV heads; o_proj is row-parallel. Prefill and absorbed decoding both work per rank:
// each rank caches the whole latent and its own heads' RoPE keys.
#pragma once

#include <memory>
#include <string>

#include "model/attention.h"
#include "model/mla/latent_kv_cache.h"
#include "model/mla/mla_layout.h"

namespace mha2mla {

// One modality's latent projections.
struct LatentProjections {
  Linear kv_down;          // joint: [d_c, hidden]; undefined when the layout's identity_down is set
  Linear k_down, v_down;   // split: [d_c/2, hidden] each
  Linear k_up;             // [kv_heads * nope_dims, latent] (no bias: it is shared, see MlaAttention)
  Linear v_up;             // [kv_heads * head_dim, latent]

  void visit(const std::string& prefix, const std::string& modality, const ParamVisitor& visitor);
};

class MlaAttention final : public AttentionBlock {
 public:
  // q_proj and o_proj share the teacher's weight tensors (frozen parts exist once); the rest is allocated
  // with zeros for the converter or a checkpoint to fill. `layout` describes the whole layer; the student keeps
  // the heads the teacher holds (teacher.partition()) and uses the teacher's tensor-parallel group.
  MlaAttention(const MlaLayerLayout& layout, const GqaAttention& teacher, const at::TensorOptions& options);

  at::Tensor forward(const at::Tensor& x, const AttentionInputs& inputs, LayerCache* cache) override;
  // forward(x) (no cache) when the shared q_proj's frozen part x W_q^T + b_q [B, T, heads * head_dim] is already
  // known: the teacher computed it on the same x (local distillation), so only the adapter's term is added.
  // Requires the teacher's q_proj (not the student's own copy); gradients reach the adapter, not the frozen part.
  at::Tensor forward_with_frozen_queries(const at::Tensor& x, const at::Tensor& frozen_queries,
                                         const AttentionInputs& inputs);
  std::unique_ptr<LayerCache> make_cache(const LatentCacheOptions& options) const override;
  // The student's own tensors only (k_rope_proj, latent projections, up biases, LoRA adapters, and q_proj / o_proj
  // when it holds copies of them).
  void visit(const std::string& prefix, const ParamVisitor& visitor) override;

  // Pieces of the forward, for calibration, conversion checks and the absorbed decoder.
  at::Tensor latent(const at::Tensor& x, const at::Tensor& image_mask) const;       // [B, T, d_c]
  at::Tensor rope_keys(const at::Tensor& x, const AttentionInputs& inputs) const;   // [B, kv_heads, T, r]
  // Decompress latents into NoPE keys [B, kv_heads, S, nope] and values [B, kv_heads, S, head_dim].
  std::pair<at::Tensor, at::Tensor> expand_latent(const at::Tensor& latent, const at::Tensor& image_mask) const;
  // Queries reordered per head to [R dims (rotated), NoPE dims]: [B, heads, T, head_dim].
  at::Tensor queries(const at::Tensor& x, const AttentionInputs& inputs) const;
  // Attention of queries q [B, heads, T, head_dim] over everything `cache` holds, with absorbed up-projections
  // (no past token is decompressed); bias [B, 1, T, S]. Returns [B, heads, T, head_dim] (before o_proj).
  at::Tensor attend_absorbed(const at::Tensor& q, const LatentKvCache& cache, const at::Tensor& bias) const;

  const MlaLayerLayout& layout() const { return layout_; }  // this rank's heads

  Linear q_proj, o_proj;
  // Set when q_proj / o_proj are the student's own copies (model/mla/student_copies.h) rather than the teacher's
  // tensors: they are then visited (and saved) as student_q_proj / student_o_proj.
  bool own_q_proj = false, own_o_proj = false;
  Linear k_rope_proj;          // [kv_heads * rope_dims, hidden] (+ bias): the kept rows of W_k, R-ordered
  at::Tensor k_up_bias;        // [kv_heads * nope_dims] b_k on the NoPE dims, or undefined
  at::Tensor v_up_bias;        // [kv_heads * head_dim] b_v, or undefined
  LatentProjections text, image;

 private:
  // The forward after f (x already copied into the tensor-parallel region), from the arranged queries.
  at::Tensor attend(const at::Tensor& x, const at::Tensor& q, const AttentionInputs& inputs, LayerCache* cache);
  // Projected queries [B, T, heads * head_dim] -> per head [R dims (rotated), NoPE dims] (see queries()).
  at::Tensor arrange_queries(const at::Tensor& projected, const AttentionInputs& inputs) const;
  const LatentProjections& projections(bool image_tokens) const;
  // Where c_k and c_v sit in a cached latent row: (offset, width) each (split: two halves; else the whole row).
  std::pair<int64_t, int64_t> key_latent_span(int64_t width) const;
  std::pair<int64_t, int64_t> value_latent_span(int64_t width) const;
  at::Tensor rope_tables_for_keys(const at::Tensor& table) const;  // [B, T, d] -> [B, kv_heads, T, r]

  MlaLayerLayout layout_;
  HeadPartition partition_;
  dist::TensorParallel tp_;
  at::Tensor query_permutation_;  // [heads, head_dim]
  at::Tensor rope_index_;         // [kv_heads, rope_dims]
};

}  // namespace mha2mla

// Which head dims of a converted layer keep RoPE, and how the MLA latent is shaped (shared/method.md
// sections 1-3). Every selection is pair-closed in HF's rotate_half layout: frequency pair j is the dims
// (j, j + head_dim/2). A KV head's kept ("R") dims are ordered [j_1..j_m, j_1+d/2..j_m+d/2] so that
// rotate_half on the gathered r-dim vector still pairs the right dims; its NoPE dims are the rest, ascending.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

enum class MlaVariant { joint, split, shared };
MlaVariant parse_mla_variant(const std::string& name);
std::string to_string(MlaVariant variant);

struct MlaLayerLayout {
  int64_t heads = 0;          // query heads (this rank)
  int64_t kv_heads = 0;       // KV heads (this rank)
  int64_t head_dim = 0;
  int64_t rope_dims = 0;      // r per KV head
  int64_t latent_rank = 0;    // d_kv per KV head; the latent is latent_kv_heads * latent_rank wide
  // KV heads of the whole layer, which size the latent (0: kv_heads). Under tensor parallelism a rank computes
  // kv_heads of them from the latent that all heads share.
  int64_t latent_kv_heads = 0;
  MlaVariant variant = MlaVariant::joint;
  bool identity_down = false; // stage 1 (partial-RoPE at full rank): the "latent" is the layer input itself
  std::vector<std::vector<int64_t>> rope_pairs;  // [kv_heads][rope_dims / 2] kept frequency pairs, ascending

  int64_t nope_dims() const { return head_dim - rope_dims; }
  int64_t latent_width() const { return (latent_kv_heads > 0 ? latent_kv_heads : kv_heads) * latent_rank; }  // d_c
  bool modality_split() const { return variant != MlaVariant::shared; }

  // Dims of KV head g: kept (R) in the rotate_half-compatible order, and the NoPE complement, ascending.
  std::vector<int64_t> rope_dim_indices(int64_t kv_head) const;
  std::vector<int64_t> nope_dim_indices(int64_t kv_head) const;

  // Index [heads, head_dim] reordering each query head's dims to [its group's R dims, its NoPE dims].
  at::Tensor query_permutation() const;
  // Index [kv_heads, rope_dims]: the R dims of each KV head (for gathering cos/sin tables).
  at::Tensor rope_index() const;

  // Throws Error naming `where` when pairs are out of range, duplicated, unsorted or the wrong count.
  void validate(const std::string& where) const;
};

// KV-cache elements per token per layer (method.md section 2): teacher 2 * kv_heads * head_dim,
// MLA kv_heads * (rope_dims + latent_rank) (+ one modality bit, counted separately in bytes).
int64_t teacher_cache_elements(int64_t kv_heads, int64_t head_dim);
int64_t mla_cache_elements(const MlaLayerLayout& layout);

}  // namespace mha2mla

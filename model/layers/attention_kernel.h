// The attention core shared by the teacher (GQA) and the MLA student: softmax(q k^T * scale + bias) v with
// grouped KV heads, softmax in float32 as HF's eager path does, and the additive bias that encodes causality,
// padding and packed-sequence boundaries.
#pragma once

#include <ATen/core/Tensor.h>

namespace mha2mla {

// q [B, H, T, d], k [B, Hkv, S, d], v [B, Hkv, S, dv], H a multiple of Hkv (query head i uses KV head
// i / (H / Hkv)); bias [B, 1, T, S] additive or undefined. Returns [B, H, T, dv]. K and V are never
// repeated per query head: the group is folded into the query length.
// A defined bias must be causal, as attention_bias makes it: query i (position S - T + i) sees no later key. The
// queries then go in blocks, each over only the keys up to its last position, so that the masked upper triangle
// is never computed (rows are independent: the result is that of one pass, except on rows with every key
// masked, padding queries, whose output is meaningless either way).
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                             double scale);

// Additive bias [B, 1, T, S] for T new tokens after `past` cached ones (S = past + T): a query at absolute
// position past + i sees keys j <= past + i that are valid (`key_valid` [B, S] bool, undefined = all valid) and,
// when `segments` [B, S] is defined (packing), in the same segment. Masked entries hold the dtype's lowest
// value (as HF does), so fully masked rows stay finite.
at::Tensor attention_bias(int64_t batch, int64_t new_tokens, int64_t past, const at::Tensor& key_valid,
                          const at::Tensor& segments, at::ScalarType dtype, const at::Device& device);

}  // namespace mha2mla

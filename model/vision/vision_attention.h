// The attention of the vision towers: bidirectional (every patch sees every patch of its image or window),
// softmax in float32 as Hugging Face's eager path takes it.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

// q, k, v [N, H, S, d] -> [N, H, S, d]: softmax(q k^T * scale) v over all S keys of the same n. Long sequences
// run in blocks of query rows so that the scores never take more than a few MiB.
at::Tensor bidirectional_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// Attention within consecutive segments of one packed sequence (the Qwen ViT's cu_seqlens): q, k, v [S, H, d];
// `boundaries` = 0 = b_0 <= b_1 <= ... <= b_n = S, segment i being tokens [b_i, b_{i+1}) (empty segments are
// skipped). Segments of equal length run as one batch instead of one small attention each. Returns [S, H, d].
at::Tensor segmented_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const std::vector<int64_t>& boundaries, double scale);

}  // namespace mha2mla

// Partial-RoPE: which frequency pairs of each KV head keep RoPE (shared/method.md section 3). Pair j is the
// dims (j, j + head_dim/2); small j rotate fastest. Every strategy keeps rope_dims/2 pairs per KV head.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

// high: pairs [0, r/2) (the high frequencies); low: the last r/2 pairs; uniform: every (head_dim/r)-th pair
// from `uniform_start`. Returns the same pairs for each of `kv_heads` heads.
std::vector<std::vector<int64_t>> fixed_rope_pairs(const std::string& strategy, int64_t head_dim, int64_t rope_dims,
                                                   int64_t kv_heads, int64_t uniform_start = 0);

// The r/2 highest-scoring pairs of each KV head from scores [kv_heads, head_dim/2] (ties: lower pair first),
// returned ascending.
std::vector<std::vector<int64_t>> top_scoring_pairs(const at::Tensor& scores, int64_t rope_dims);

}  // namespace mha2mla

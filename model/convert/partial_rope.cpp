#include "model/convert/partial_rope.h"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

std::vector<std::vector<int64_t>> fixed_rope_pairs(const std::string& strategy, int64_t head_dim, int64_t rope_dims,
                                                   int64_t kv_heads, int64_t uniform_start) {
  const int64_t pairs = head_dim / 2, keep = rope_dims / 2;
  if (rope_dims % 2 != 0 || rope_dims > head_dim)
    fail("convert.rope_dims = {} must be even and at most head_dim = {}", rope_dims, head_dim);
  std::vector<int64_t> chosen;
  if (strategy == "high") {
    for (int64_t j = 0; j < keep; ++j) chosen.push_back(j);
  } else if (strategy == "low") {
    for (int64_t j = pairs - keep; j < pairs; ++j) chosen.push_back(j);
  } else if (strategy == "uniform") {
    if (keep == 0) return std::vector<std::vector<int64_t>>(static_cast<size_t>(kv_heads));
    if (head_dim % rope_dims != 0)
      fail("convert.strategy = uniform needs head_dim ({}) divisible by rope_dims ({})", head_dim, rope_dims);
    const int64_t stride = head_dim / rope_dims;
    if (uniform_start < 0 || uniform_start >= stride)
      fail("convert.uniform_start = {} must be in [0, {}) for a stride of {} pairs", uniform_start, stride, stride);
    for (int64_t k = 0; k < keep; ++k) chosen.push_back(uniform_start + k * stride);
  } else {
    fail("'{}' is not a fixed partial-RoPE strategy (high, low, uniform)", strategy);
  }
  return std::vector<std::vector<int64_t>>(static_cast<size_t>(kv_heads), chosen);
}

std::vector<std::vector<int64_t>> top_scoring_pairs(const at::Tensor& scores, int64_t rope_dims) {
  MHA2MLA_CHECK(scores.dim() == 2, "scores must be [kv_heads, pairs]");
  at::Tensor s = scores.to(at::kDouble).contiguous();
  const int64_t kv_heads = s.size(0), pairs = s.size(1), keep = rope_dims / 2;
  if (keep > pairs) fail("convert.rope_dims = {} keeps more pairs than the {} a head has", rope_dims, pairs);
  std::vector<std::vector<int64_t>> result;
  for (int64_t g = 0; g < kv_heads; ++g) {
    const double* row = s[g].data_ptr<double>();
    std::vector<int64_t> order(static_cast<size_t>(pairs));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    std::vector<int64_t> kept(order.begin(), order.begin() + keep);
    std::sort(kept.begin(), kept.end());
    result.push_back(kept);
  }
  return result;
}

}  // namespace mha2mla

#include "model/vision/vision_attention.h"

#include <map>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

at::Tensor bidirectional_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t N = q.size(0), H = q.size(1), S = q.size(2), d = q.size(3), dv = v.size(3);
  // One batched GEMM with the scale folded in (alpha; beta = 0 ignores the uninitialised input), instead of a
  // matmul and a separate pass over the S x S scores.
  at::Tensor q3 = q.reshape({N * H, S, d}), k3 = k.reshape({N * H, S, d}), v3 = v.reshape({N * H, S, dv});
  at::Tensor scores = at::baddbmm(at::empty({N * H, S, S}, q.options()), q3, k3.transpose(1, 2), 0.0, scale);
  const bool widen = q.scalar_type() != at::kFloat && q.scalar_type() != at::kDouble;
  at::Tensor probs = widen ? at::softmax(scores, -1, at::kFloat).to(q.scalar_type()) : at::softmax(scores, -1);
  return at::bmm(probs, v3).view({N, H, S, dv});
}

at::Tensor segmented_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const std::vector<int64_t>& boundaries, double scale) {
  const int64_t S = q.size(0), H = q.size(1), d = q.size(2);
  MHA2MLA_CHECK(boundaries.size() >= 2 && boundaries.front() == 0 && boundaries.back() == S,
                "segment boundaries must run from 0 to {}", S);
  // Segment starts grouped by length; std::map keeps the grouping deterministic.
  std::map<int64_t, std::vector<int64_t>> starts_by_length;
  for (size_t i = 0; i + 1 < boundaries.size(); ++i) {
    const int64_t length = boundaries[i + 1] - boundaries[i];
    MHA2MLA_CHECK(length >= 0, "segment boundaries must not decrease ({} then {})", boundaries[i], boundaries[i + 1]);
    if (length > 0) starts_by_length[length].push_back(boundaries[i]);
  }
  // [S, H, d] -> [H, S, d] once, so that equal-length segments are plain views when they tile the sequence.
  if (starts_by_length.size() == 1) {
    const int64_t length = starts_by_length.begin()->first;
    const int64_t n = S / length;
    auto split = [&](const at::Tensor& x) { return x.view({n, length, H, d}).permute({0, 2, 1, 3}); };
    at::Tensor out = bidirectional_attention(split(q), split(k), split(v), scale);  // [n, H, L, d]
    return out.permute({0, 2, 1, 3}).reshape({S, H, d});
  }
  at::Tensor output = at::empty_like(q);
  auto index_options = at::TensorOptions().dtype(at::kLong).device(q.device());
  for (const auto& [length, starts] : starts_by_length) {
    const int64_t n = static_cast<int64_t>(starts.size());
    at::Tensor rows = (at::tensor(starts, at::kLong).to(q.device()).view({n, 1}) + at::arange(length, index_options))
                          .view({n * length});
    auto gather = [&](const at::Tensor& x) {
      return x.index_select(0, rows).view({n, length, H, d}).permute({0, 2, 1, 3});
    };
    at::Tensor out = bidirectional_attention(gather(q), gather(k), gather(v), scale);
    output.index_copy_(0, rows, out.permute({0, 2, 1, 3}).reshape({n * length, H, d}));
  }
  return output;
}

}  // namespace mha2mla

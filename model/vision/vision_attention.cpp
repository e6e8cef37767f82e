#include "model/vision/vision_attention.h"

#include <algorithm>
#include <map>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

namespace {

// Scores of at most this many elements (8 MiB in float32) are materialised at once: long sequences are processed in
// blocks of query rows, so the S x S scores of a large image never exist whole (a 16k-patch Qwen image would need
// 17 GB) and each block stays in cache between its GEMM, softmax and GEMM. Rows are independent, so the result is
// the same as one pass.
constexpr int64_t kScoreBlockElements = int64_t{1} << 21;

}  // namespace

at::Tensor bidirectional_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t N = q.size(0), H = q.size(1), S = q.size(2), d = q.size(3), dv = v.size(3);
  // The scale goes on the queries (S x d values per head) rather than on the S x S scores: one pass fewer over the
  // largest tensor.
  at::Tensor q3 = (q * scale).reshape({N * H, S, d});
  at::Tensor kt = k.reshape({N * H, S, d}).transpose(1, 2), v3 = v.reshape({N * H, S, dv});
  const bool widen = q.scalar_type() != at::kFloat && q.scalar_type() != at::kDouble;
  auto attend = [&](const at::Tensor& queries) {
    at::Tensor scores = at::bmm(queries, kt);
    at::Tensor probs = widen ? at::softmax(scores, -1, at::kFloat).to(q.scalar_type()) : at::softmax(scores, -1);
    return at::bmm(probs, v3);
  };
  const int64_t rows = std::max<int64_t>(1, kScoreBlockElements / std::max<int64_t>(1, N * H * S));
  if (rows >= S) return attend(q3).view({N, H, S, dv});
  at::Tensor out = at::empty({N * H, S, dv}, v.options());
  for (int64_t start = 0; start < S; start += rows) {
    const int64_t count = std::min(rows, S - start);
    out.narrow(1, start, count).copy_(attend(q3.narrow(1, start, count)));
  }
  return out.view({N, H, S, dv});
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

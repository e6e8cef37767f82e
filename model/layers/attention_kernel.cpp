#include "model/layers/attention_kernel.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

namespace {

// Queries per causal block. On CPU: small enough that a block's scores stay in cache between the score GEMM, the
// softmax and the value GEMM (without blocking, a long prompt's scores run from memory several times over and
// attention costs 3-4x more, see docs/benchmarks.md), large enough that each GEMM keeps its efficiency. On a GPU
// every block costs a few kernel launches, so blocks are larger: fewer launches, still most of the masked triangle
// skipped (not yet measured: no GPU so far).
int64_t causal_block_queries(const at::Tensor& q) { return q.is_cpu() ? 64 : 1024; }

// softmax(q k^T * scale + bias) v for one block of queries against the keys it is given.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias, double scale) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2), dv = v.size(3);
  const int64_t group = H / Hkv;
  // [B, Hkv, group*T, d] @ [B, Hkv, d, S] -> [B, Hkv, group*T, S]
  at::Tensor scores = at::matmul(q.reshape({B, Hkv, group * T, d}), k.transpose(-2, -1));
  // bias + scale * scores in one pass over the scores (as (q k^T) * scale + bias: a zero bias adds exactly nothing).
  scores = bias.defined() ? at::add(bias.unsqueeze(1), scores.view({B, Hkv, group, T, S}), scale).view({B, Hkv, group * T, S})
                          : scores * scale;
  // HF takes the softmax in float32 for half types; float64 (tests, oracles) stays float64.
  at::ScalarType softmax_type = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor probs = at::softmax(scores, -1, softmax_type).to(q.scalar_type());
  return at::matmul(probs, v).view({B, H, T, dv});
}

}  // namespace

at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                             double scale) {
  const int64_t H = q.size(1), T = q.size(2), Hkv = k.size(1), S = k.size(2);
  MHA2MLA_CHECK(H % Hkv == 0, "{} query heads are not a multiple of {} KV heads", H, Hkv);
  MHA2MLA_CHECK(S >= T, "{} queries but only {} keys: the keys must include the queries' own positions", T, S);
  const int64_t block = causal_block_queries(q);
  if (!bias.defined() || T <= block) return attend(q, k, v, bias, scale);
  // Causal blocks: queries [t0, t1) sit at positions past + t0 .. past + t1 - 1 and see no key after past + t1 - 1,
  // so each block attends only over the keys up to there; the masked upper triangle is never computed.
  const int64_t past = S - T;
  std::vector<at::Tensor> blocks;
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t rows = std::min(block, T - t0), keys = past + t0 + rows;
    blocks.push_back(attend(q.narrow(2, t0, rows), k.narrow(2, 0, keys), v.narrow(2, 0, keys),
                            bias.narrow(2, t0, rows).narrow(3, 0, keys), scale));
  }
  return at::cat(blocks, 2);
}

at::Tensor attention_bias(int64_t batch, int64_t new_tokens, int64_t past, const at::Tensor& key_valid,
                          const at::Tensor& segments, at::ScalarType dtype, const at::Device& device) {
  const int64_t S = past + new_tokens;
  auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor query_pos = at::arange(past, S, long_options).view({new_tokens, 1});
  at::Tensor key_pos = at::arange(0, S, long_options).view({1, S});
  at::Tensor allowed = (key_pos <= query_pos).view({1, new_tokens, S}).expand({batch, new_tokens, S});
  if (key_valid.defined()) {
    MHA2MLA_CHECK(key_valid.size(0) == batch && key_valid.size(1) == S, "key_valid must be [{}, {}]", batch, S);
    allowed = allowed & key_valid.to(at::kBool).view({batch, 1, S});
  }
  if (segments.defined()) {
    MHA2MLA_CHECK(segments.size(1) == S, "segments must cover {} keys", S);
    at::Tensor query_segments = segments.narrow(1, past, new_tokens).view({batch, new_tokens, 1});
    allowed = allowed & (query_segments == segments.view({batch, 1, S}));
  }
  double lowest = dtype == at::kBFloat16 ? -3.3895313892515355e38
                  : dtype == at::kHalf   ? -65504.0
                  : dtype == at::kDouble ? std::numeric_limits<double>::lowest()
                                         : static_cast<double>(std::numeric_limits<float>::lowest());
  at::Tensor bias = at::zeros({batch, 1, new_tokens, S}, at::TensorOptions().dtype(dtype).device(device));
  return bias.masked_fill(at::logical_not(allowed).unsqueeze(1), lowest);
}

}  // namespace mha2mla

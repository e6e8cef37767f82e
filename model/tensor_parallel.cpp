#include "model/tensor_parallel.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

HeadPartition whole_heads(int64_t heads, int64_t kv_heads) {
  HeadPartition p;
  p.total_heads = p.heads = heads;
  p.total_kv_heads = kv_heads;
  for (int64_t g = 0; g < kv_heads; ++g) p.kv_heads.push_back(g);
  return p;
}

HeadPartition partition_heads(int64_t heads, int64_t kv_heads, int size, int rank, const std::string& where) {
  if (size == 1) return whole_heads(heads, kv_heads);
  const std::string hint = "choose a distributed.tensor_parallel that divides the number of attention heads and "
                           "divides or is a multiple of the number of key-value heads";
  if (heads % size != 0)
    fail_with_hint(hint, "{}: {} attention heads do not split over distributed.tensor_parallel = {} ranks", where,
                   heads, size);
  if (kv_heads >= size ? kv_heads % size != 0 : size % kv_heads != 0)
    fail_with_hint(hint,
                   "{}: {} key-value heads do not split over distributed.tensor_parallel = {} ranks (a rank's query "
                   "heads must use whole key-value heads)",
                   where, kv_heads, size);
  HeadPartition p;
  p.total_heads = heads;
  p.total_kv_heads = kv_heads;
  p.heads = heads / size;
  p.first_head = rank * p.heads;
  const int64_t group = heads / kv_heads;  // query heads per KV head
  // The KV heads of this rank's query heads: kv_heads / size of them, or the one they all share.
  for (int64_t g = p.first_head / group; g <= (p.first_head + p.heads - 1) / group; ++g) p.kv_heads.push_back(g);
  p.kv_copies = kv_heads >= size ? 1 : size / kv_heads;
  return p;
}

std::vector<int64_t> head_rows(const std::vector<int64_t>& heads, int64_t dims) {
  std::vector<int64_t> rows;
  rows.reserve(heads.size() * static_cast<size_t>(dims));
  for (int64_t h : heads)
    for (int64_t d = 0; d < dims; ++d) rows.push_back(h * dims + d);
  return rows;
}

std::vector<int64_t> query_head_list(const HeadPartition& p) {
  std::vector<int64_t> heads;
  for (int64_t h = 0; h < p.heads; ++h) heads.push_back(p.first_head + h);
  return heads;
}

std::vector<int64_t> even_slice(int64_t n, int size, int rank, const std::string& what) {
  if (n % size != 0)
    fail_with_hint("choose a distributed.tensor_parallel that divides it", "{} = {} does not split over "
                   "distributed.tensor_parallel = {} ranks", what, n, size);
  std::vector<int64_t> indices;
  for (int64_t i = rank * (n / size); i < (rank + 1) * (n / size); ++i) indices.push_back(i);
  return indices;
}

LinearShard output_shard(std::vector<int64_t> rows, int64_t full_size, int64_t copies) {
  LinearShard shard;
  shard.split = LinearShard::Split::output;
  shard.indices = std::move(rows);
  shard.full_size = full_size;
  shard.copies = copies;
  return shard;
}

LinearShard input_shard(std::vector<int64_t> columns, int64_t full_size) {
  LinearShard shard;
  shard.split = LinearShard::Split::input;
  shard.indices = std::move(columns);
  shard.full_size = full_size;
  return shard;
}

at::Tensor row_parallel_forward(const Linear& linear, const at::Tensor& x, const dist::TensorParallel& tp) {
  if (!tp.enabled()) return linear.forward(x);
  at::Tensor y = dist::reduce_from_tensor_parallel(linear.forward_without_bias(x), tp);
  return linear.bias.defined() ? y + linear.bias : y;
}

void sum_tensor_parallel_gradients(const std::vector<ParamRef>& params, const dist::TensorParallel& tp) {
  if (!tp.enabled()) return;
  at::NoGradGuard no_grad;
  std::vector<const ParamRef*> summed;
  for (const ParamRef& ref : params)
    if (ref.tp_replicated_trainable) summed.push_back(&ref);
  // The ranks run the same graph, so they agree on which gradients exist; agreeing explicitly costs one small
  // collective and keeps a disagreement from desynchronising the sums. A tensor without a gradient on every rank
  // keeps none (the optimizer skips it).
  at::Tensor has_grad = at::empty({static_cast<int64_t>(summed.size())}, at::kBool);
  for (size_t i = 0; i < summed.size(); ++i) has_grad[static_cast<int64_t>(i)] = summed[i]->tensor->grad().defined();
  tp.group->all_reduce(has_grad, dist::ReduceOp::max);
  for (size_t i = 0; i < summed.size(); ++i) {
    const ParamRef& ref = *summed[i];
    if (!has_grad[static_cast<int64_t>(i)].item<bool>()) continue;
    at::Tensor& grad = ref.tensor->mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(*ref.tensor);
    dist::sum_over_holders(grad, ref.shard_dim, ref.shard_indices, ref.full_size, *tp.group);
  }
}

at::Tensor gather_full(const ParamRef& ref, const dist::TensorParallel& tp) {
  if (ref.shard_dim < 0) return *ref.tensor;
  MHA2MLA_CHECK(tp.enabled(), "{} is a slice but the model has no tensor-parallel group", ref.name);
  return dist::gather_slices(*ref.tensor, ref.shard_dim, ref.shard_indices, ref.full_size, *tp.group);
}

}  // namespace mha2mla

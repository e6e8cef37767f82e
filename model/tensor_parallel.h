// How the decoder splits over a tensor-parallel group (docs/distributed.md, "What is sharded how"):
//
//   attention   q_proj / k_proj / v_proj column-parallel by heads (q, k, v of this rank's heads), o_proj
//               row-parallel by the same heads, then g. Query heads split evenly; KV heads go with the query heads
//               that use them: with kv_heads >= tp each rank holds kv_heads / tp of them, with kv_heads < tp each
//               rank holds the one KV head of its query group, shared by tp / kv_heads ranks (their gradients
//               are summed over those ranks).
//   MLA student the same heads: k_rope_proj and the up projections (and their biases) by KV heads, the latent
//               down projections whole on every rank (the latent is shared by all heads; gradients summed over
//               the group), LoRA on q_proj A whole / B by rows, on o_proj A by columns / B whole.
//   MLP         gate_proj / up_proj column-parallel, down_proj row-parallel, then g.
//   the rest    embeddings, norms, lm_head and the vision tower: whole on every rank.
//
// Teacher and student split the same heads on a rank, so local distillation compares what one rank computes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "distributed/tensor_parallel.h"
#include "model/layers/linear.h"
#include "model/params.h"

namespace mha2mla {

// The heads one tensor-parallel rank computes.
struct HeadPartition {
  int64_t total_heads = 0, total_kv_heads = 0;
  int64_t first_head = 0, heads = 0;  // query heads [first_head, first_head + heads)
  std::vector<int64_t> kv_heads;       // the KV heads those query heads use, ascending
  int64_t kv_copies = 1;               // ranks holding each of these KV heads

  bool whole() const { return heads == total_heads; }
};

// The whole layer (no tensor parallelism).
HeadPartition whole_heads(int64_t heads, int64_t kv_heads);

// Rank `rank` of `size`. Throws Error naming `where` when the heads do not split: heads must divide by size, and
// kv_heads by size (kv_heads >= size) or size by kv_heads (kv_heads < size).
HeadPartition partition_heads(int64_t heads, int64_t kv_heads, int size, int rank, const std::string& where);

// Rows [h * dims, (h + 1) * dims) for every head h listed, in order.
std::vector<int64_t> head_rows(const std::vector<int64_t>& heads, int64_t dims);
// Query heads [first_head, first_head + heads) as a list.
std::vector<int64_t> query_head_list(const HeadPartition& partition);

// [rank * n / size, (rank + 1) * n / size) for a size dividing n; throws Error naming `what` otherwise.
std::vector<int64_t> even_slice(int64_t n, int size, int rank, const std::string& what);

LinearShard output_shard(std::vector<int64_t> rows, int64_t full_size, int64_t copies = 1);
LinearShard input_shard(std::vector<int64_t> columns, int64_t full_size);

// A row-parallel layer: g(x W_i^T + LoRA) + b. Without tensor parallelism exactly linear.forward(x).
at::Tensor row_parallel_forward(const Linear& linear, const at::Tensor& x, const dist::TensorParallel& tp);

// After backward (collective over tp's group): the gradient of every tp_replicated_trainable parameter becomes
// the sum over the ranks holding it. One without a gradient on some rank contributes zeros there; one without a
// gradient on every rank keeps none.
void sum_tensor_parallel_gradients(const std::vector<ParamRef>& params, const dist::TensorParallel& tp);

// The whole tensor behind `ref` (a copy gathered from every rank's slice, collective over tp's group), or the
// tensor itself when this rank holds it whole.
at::Tensor gather_full(const ParamRef& ref, const dist::TensorParallel& tp);

}  // namespace mha2mla

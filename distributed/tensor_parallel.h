// Megatron-style tensor parallelism: the group a model is split over, and the two communication operators that
// bracket every parallel block (Shoeybi et al. 2019, section 3):
//
//   x ──f──> [column-parallel linears: each rank computes its heads / its MLP columns] ──> row-parallel linear
//     ──> partial sums ──g──> + bias ──> y
//
//   f  copy_to_tensor_parallel:      forward identity        backward all_reduce(sum) of the input gradient
//   g  reduce_from_tensor_parallel:  forward all_reduce(sum) backward identity
//
// f sits where a replicated activation enters a block whose ranks each use it for their own slice: every rank's
// input gradient is partial (it flows only through that rank's heads), so the ranks sum them. g sits where the
// block leaves: each rank holds a partial output (its heads' share of o_proj), so the ranks sum them; the
// gradient of a sum with respect to each summand is the gradient of the sum, so backward passes it through.
//
// Both are autograd operators. Every rank of the group must run the same blocks in the same order (forward and
// backward): the collectives are matched by order, as in MPI.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "distributed/communicator.h"

namespace mha2mla::dist {

// The tensor-parallel group a model is built over. The default (no group) is the whole model on this rank:
// size 1, and f and g are plain identities.
struct TensorParallel {
  Communicator* group = nullptr;  // not owned; outlives the model (the ProcessGrid's TP communicator)

  int rank() const { return group ? group->rank() : 0; }
  int size() const { return group ? group->size() : 1; }
  bool enabled() const { return size() > 1; }
};

// f: forward identity, backward all_reduce(sum) of the gradient over tp's group.
at::Tensor copy_to_tensor_parallel(const at::Tensor& x, const TensorParallel& tp);

// g: forward all_reduce(sum) of x over tp's group (a new tensor; x is untouched), backward identity.
at::Tensor reduce_from_tensor_parallel(const at::Tensor& x, const TensorParallel& tp);

// The whole tensor from every rank's slice: this rank holds the `indices` of dimension `dim` of a tensor `full_size`
// long along it. Collective over `group`; ranks may hold the same index (replicated slices: equal values are
// expected, the last rank's wins). Every rank gets the full tensor.
at::Tensor gather_slices(const at::Tensor& slice, int64_t dim, const std::vector<int64_t>& indices, int64_t full_size,
                         Communicator& group);

// In place: every element of `slice` (the `indices` of dimension `dim`, as above) becomes the sum of that element
// over the ranks of `group` that hold it. For the gradients of tensors several tensor-parallel ranks hold
// (each rank's gradient covers only the heads it computes). With dim < 0 the whole tensor is summed.
void sum_over_holders(const at::Tensor& slice, int64_t dim, const std::vector<int64_t>& indices, int64_t full_size,
                      Communicator& group);

}  // namespace mha2mla::dist

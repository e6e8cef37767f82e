#include "distributed/tensor_parallel.h"

#include <cstdint>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"

namespace mha2mla::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The group travels to backward through the context's saved data, which holds IValues: the pointer is kept as an
// integer. The communicator outlives every graph built on it (it outlives the model).
void save_group(AutogradContext* ctx, Communicator* group) {
  ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(group));
}
Communicator& saved_group(AutogradContext* ctx) {
  return *reinterpret_cast<Communicator*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
}

// In a fresh contiguous tensor: gradients and activations may be shared with other parts of the graph.
at::Tensor summed_copy(const at::Tensor& x, Communicator& group) {
  at::Tensor sum = x.contiguous().clone();
  group.all_reduce(sum, ReduceOp::sum);
  return sum;
}

// f. forward: y = x.  backward: dL/dx = sum over ranks of dL/dy (each rank's dL/dy covers its own slice).
struct CopyToTensorParallel : public torch::autograd::Function<CopyToTensorParallel> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Communicator* group) {
    save_group(ctx, group);
    return x;  // returned inputs are wrapped as views that carry this node
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    return {summed_copy(grad_outputs[0], saved_group(ctx)), at::Tensor()};
  }
};

// g. forward: y = sum over ranks of x.  backward: dL/dx = dL/dy (y depends on each rank's x with coefficient 1).
struct ReduceFromTensorParallel : public torch::autograd::Function<ReduceFromTensorParallel> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& x, Communicator* group) {
    return summed_copy(x, *group);
  }
  static variable_list backward(AutogradContext*, variable_list grad_outputs) {
    return {grad_outputs[0], at::Tensor()};
  }
};

void check_slice(const at::Tensor& slice, int64_t dim, const std::vector<int64_t>& indices, int64_t full_size) {
  MHA2MLA_CHECK(dim >= 0 && dim < slice.dim(), "slice dim {} of a {}-d tensor", dim, slice.dim());
  MHA2MLA_CHECK(static_cast<int64_t>(indices.size()) == slice.size(dim), "{} indices for {} slices along dim {}",
                indices.size(), slice.size(dim), dim);
  for (int64_t i : indices) MHA2MLA_CHECK(i >= 0 && i < full_size, "slice index {} outside [0, {})", i, full_size);
}

}  // namespace

at::Tensor copy_to_tensor_parallel(const at::Tensor& x, const TensorParallel& tp) {
  if (!tp.enabled()) return x;
  return CopyToTensorParallel::apply(x, tp.group);
}

at::Tensor reduce_from_tensor_parallel(const at::Tensor& x, const TensorParallel& tp) {
  if (!tp.enabled()) return x;
  return ReduceFromTensorParallel::apply(x, tp.group);
}

at::Tensor gather_slices(const at::Tensor& slice, int64_t dim, const std::vector<int64_t>& indices, int64_t full_size,
                         Communicator& group) {
  at::NoGradGuard no_grad;
  check_slice(slice, dim, indices, full_size);
  // Ranks hold equally many slices (the model splits evenly), so one all_gather moves them all, slice dim first.
  const int64_t count = group.all_reduce_int(static_cast<int64_t>(indices.size()), ReduceOp::max);
  MHA2MLA_CHECK(count == static_cast<int64_t>(indices.size()), "ranks of group '{}' hold different slice counts",
                group.name());
  at::Tensor values = group.all_gather(slice.detach().movedim(dim, 0).contiguous());
  at::Tensor where = group.all_gather(at::tensor(indices, at::kLong));
  std::vector<int64_t> full_shape = values.sizes().vec();
  full_shape[0] = full_size;
  at::Tensor full = at::zeros(full_shape, values.options());
  full.index_copy_(0, where.to(values.device()), values);
  return full.movedim(0, dim).contiguous();
}

void sum_over_holders(const at::Tensor& slice, int64_t dim, const std::vector<int64_t>& indices, int64_t full_size,
                      Communicator& group) {
  at::NoGradGuard no_grad;
  if (dim < 0) {
    group.all_reduce(slice, ReduceOp::sum);
    return;
  }
  check_slice(slice, dim, indices, full_size);
  // Scatter into a zero tensor of the full size, sum it, read this rank's slices back: each element then holds
  // the sum over exactly the ranks that hold it.
  std::vector<int64_t> full_shape = slice.sizes().vec();
  full_shape[static_cast<size_t>(dim)] = full_size;
  at::Tensor full = at::zeros(full_shape, slice.options());
  at::Tensor index = at::tensor(indices, at::kLong).to(slice.device());
  full.index_copy_(dim, index, slice);
  group.all_reduce(full, ReduceOp::sum);
  slice.copy_(full.index_select(dim, index));
}

}  // namespace mha2mla::dist

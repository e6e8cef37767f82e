#include "trainer/grad_utils.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "common/log.h"
#include "distributed/communicator.h"

namespace mha2mla {

SquaredNormReducer sum_over(dist::Communicator& tensor_parallel_group) {
  return [&tensor_parallel_group](double local) {
    return tensor_parallel_group.all_reduce_double(local, dist::ReduceOp::sum);
  };
}

double GradNorm::norm() const { return std::sqrt(sum_of_squares_sharded + sum_of_squares_replicated); }

static double sum_of_squares(const at::Tensor& grad) {
  // Float64 accumulation: the squared norm of a large float32 gradient does not lose its small terms, and
  // any NaN/Inf entry makes the sum NaN/Inf.
  double norm = at::linalg_vector_norm(grad, 2, c10::nullopt, false, at::kDouble).item<double>();
  return norm * norm;
}

GradNorm gradient_norm(const std::vector<ParamRef>& params, const SquaredNormReducer& reduce) {
  GradNorm result;
  double sharded = 0;
  for (const auto& ref : params) {
    const at::Tensor& grad = ref.tensor->grad();
    if (!grad.defined()) continue;
    // A slice several tensor-parallel ranks hold (shared KV heads) is summed once per holder by the reducer.
    if (ref.shard_dim >= 0)
      sharded += sum_of_squares(grad) / static_cast<double>(ref.tp_copies);
    else
      result.sum_of_squares_replicated += sum_of_squares(grad);
  }
  result.sum_of_squares_sharded = reduce ? reduce(sharded) : sharded;
  return result;
}

double clip_gradients(const std::vector<ParamRef>& params, double max_norm, const SquaredNormReducer& reduce) {
  double norm = gradient_norm(params, reduce).norm();
  if (max_norm <= 0 || !std::isfinite(norm)) return norm;
  double coefficient = max_norm / (norm + 1e-6);
  if (coefficient < 1.0) scale_gradients(params, coefficient);
  return norm;
}

void scale_gradients(const std::vector<ParamRef>& params, double factor) {
  at::NoGradGuard no_grad;
  for (const auto& ref : params) {
    at::Tensor& grad = ref.tensor->mutable_grad();
    if (grad.defined()) grad.mul_(factor);
  }
}

void clear_gradients(const std::vector<ParamRef>& params) {
  for (const auto& ref : params)
    if (ref.tensor->grad().defined()) ref.tensor->mutable_grad() = at::Tensor();
}

bool gradients_finite(const std::vector<ParamRef>& params) {
  for (const auto& ref : params) {
    const at::Tensor& grad = ref.tensor->grad();
    if (grad.defined() && !at::isfinite(grad).all().item<bool>()) return false;
  }
  return true;
}

NonFiniteGuard::NonFiniteGuard(int64_t max_consecutive) : max_consecutive_(max_consecutive) {
  if (max_consecutive < 1) fail("train.max_nonfinite_steps = {}: expected at least 1", max_consecutive);
}

bool NonFiniteGuard::check(int64_t step, double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    consecutive_ = 0;
    return true;
  }
  ++skipped_total_;
  ++consecutive_;
  if (consecutive_ >= max_consecutive_)
    fail_with_hint("lower train.optimizer.lr, check the data and the converted checkpoint, or resume from an "
                   "earlier checkpoint",
                   "step {}: loss {} and gradient norm {}: {} consecutive steps with NaN/Inf values "
                   "(train.max_nonfinite_steps = {}); stopping",
                   step, loss, grad_norm, consecutive_, max_consecutive_);
  spdlog::warn("step {}: loss {} gradient norm {}: non-finite, update skipped ({} in a row, {} in total; the run "
               "stops at {} in a row)",
               step, loss, grad_norm, consecutive_, skipped_total_, max_consecutive_);
  return false;
}

void NonFiniteGuard::restore(int64_t skipped_total, int64_t consecutive) {
  skipped_total_ = skipped_total;
  consecutive_ = consecutive;
}

}  // namespace mha2mla

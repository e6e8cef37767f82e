// Gradient helpers for the training step: global-norm clipping (across tensor-parallel ranks when asked),
// the NaN/Inf guard that skips bad steps, and accumulation scaling.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/params.h"

namespace mha2mla {

namespace dist {
class Communicator;
}

// Turns this rank's partial sum of squared gradient entries into the global one. Only the entries of
// tensor-parallel shards go through it (every rank holds a different slice; a slice held by ParamRef::tp_copies
// ranks is divided by that count first); replicated parameters hold the same gradient on every rank (after
// sum_tensor_parallel_gradients for the trainable ones) and are counted once, locally. Data-parallel ranks hold identical
// gradients after gradient sync, so they need no reduction.
using SquaredNormReducer = std::function<double(double local_sum_of_squares)>;

// Sums over the group with all_reduce_double: pass the tensor-parallel communicator.
SquaredNormReducer sum_over(dist::Communicator& tensor_parallel_group);

struct GradNorm {
  double sum_of_squares_sharded = 0;     // after the reducer
  double sum_of_squares_replicated = 0;
  double norm() const;                   // sqrt of the sum; NaN/Inf when any entry is
};

// The L2 norm of every defined gradient, accumulated in float64. Parameters without a gradient count 0.
GradNorm gradient_norm(const std::vector<ParamRef>& params, const SquaredNormReducer& reduce = {});

// torch.nn.utils.clip_grad_norm_'s rule on the global norm: when norm > max_norm, every gradient is
// multiplied by max_norm / (norm + 1e-6). Returns the norm before clipping. max_norm <= 0 measures only.
// A non-finite norm leaves the gradients as they are (the step will be skipped by NonFiniteGuard).
double clip_gradients(const std::vector<ParamRef>& params, double max_norm, const SquaredNormReducer& reduce = {});

// Multiplies every defined gradient by `factor` (e.g. 1/grad_accum when micro-batch losses are summed).
void scale_gradients(const std::vector<ParamRef>& params, double factor);

// Sets every gradient to undefined, so the next backward pass starts from nothing.
void clear_gradients(const std::vector<ParamRef>& params);

// True when every entry of every defined gradient is finite.
bool gradients_finite(const std::vector<ParamRef>& params);

// Skips steps whose loss or gradient norm is NaN/Inf and stops the run after too many in a row
// (recipe: train.max_nonfinite_steps). Feed it values that every rank agrees on (the reduced loss and the
// global norm), so that all ranks skip the same steps.
class NonFiniteGuard {
 public:
  explicit NonFiniteGuard(int64_t max_consecutive);

  // True: apply the update. False: skip it (a warning names the step and the bad values). Throws Error when
  // this makes max_consecutive non-finite steps in a row.
  bool check(int64_t step, double loss, double grad_norm);

  int64_t skipped_total() const { return skipped_total_; }
  int64_t consecutive() const { return consecutive_; }
  // Restored from a checkpoint's counters on resume.
  void restore(int64_t skipped_total, int64_t consecutive);

 private:
  int64_t max_consecutive_;
  int64_t skipped_total_ = 0;
  int64_t consecutive_ = 0;
};

}  // namespace mha2mla

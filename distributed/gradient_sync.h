// Data-parallel gradient averaging. The parameters' .grad tensors are packed into flat buckets of at most
// distributed.bucket_mb MiB (one dtype and device per bucket, parameters in the order given, so every rank
// plans the same buckets), each bucket is averaged over the DP group with one all_reduce, and the result is
// copied back. Few large messages instead of one per parameter: latency is paid per bucket, not per tensor.
// Element-wise the result is the same average whatever the bucket size (each element's sum is formed by the
// same collective algorithm); only MPI's choice of algorithm by message size can change rounding.
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/core/Tensor.h>

#include "distributed/communicator.h"

namespace mha2mla::dist {

class GradientSynchronizer {
 public:
  // `group` must outlive this object. A parameter larger than a bucket gets a bucket of its own.
  GradientSynchronizer(std::vector<at::Tensor> parameters, Communicator& group, double bucket_mb);

  // Collective over the group: every .grad becomes the group average. A parameter without a gradient
  // contributes zeros and receives the average (ranks must agree on the buckets, not on which grads exist); one
  // that no rank has a gradient for keeps none (the optimizer skips it, as one process on the whole batch would).
  void synchronize();

  size_t bucket_count() const { return buckets_.size(); }
  // Indices into the parameter list, per bucket, in the order buckets are reduced.
  std::vector<std::vector<size_t>> bucket_members() const;

 private:
  struct Bucket {
    std::vector<size_t> members;
    int64_t numel = 0;
    at::Tensor flat;  // allocated on first use, reused every step
  };

  std::vector<at::Tensor> parameters_;
  Communicator& group_;
  std::vector<Bucket> buckets_;
};

}  // namespace mha2mla::dist

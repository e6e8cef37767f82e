#include "distributed/gradient_sync.h"

#include <map>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "common/error.h"

namespace mha2mla::dist {

GradientSynchronizer::GradientSynchronizer(std::vector<at::Tensor> parameters, Communicator& group,
                                           double bucket_mb)
    : parameters_(std::move(parameters)), group_(group) {
  if (!(bucket_mb > 0)) fail("distributed.bucket_mb = {}: expected a positive size in MiB", bucket_mb);
  const double capacity_bytes = bucket_mb * 1024.0 * 1024.0;
  // One open bucket per (dtype, device); a bucket closes when the next parameter would overflow it.
  std::map<std::pair<int, std::string>, size_t> open;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& parameter = parameters_[i];
    MHA2MLA_CHECK(parameter.defined(), "gradient sync: parameter {} is undefined", i);
    auto key = std::make_pair(static_cast<int>(parameter.scalar_type()), parameter.device().str());
    double bytes = static_cast<double>(parameter.numel()) * parameter.element_size();
    auto found = open.find(key);
    if (found != open.end()) {
      Bucket& bucket = buckets_[found->second];
      double filled = static_cast<double>(bucket.numel) * parameter.element_size();
      if (filled + bytes <= capacity_bytes) {
        bucket.members.push_back(i);
        bucket.numel += parameter.numel();
        continue;
      }
    }
    buckets_.push_back(Bucket{{i}, parameter.numel(), {}});
    open[key] = buckets_.size() - 1;
  }
}

std::vector<std::vector<size_t>> GradientSynchronizer::bucket_members() const {
  std::vector<std::vector<size_t>> members;
  for (const Bucket& bucket : buckets_) members.push_back(bucket.members);
  return members;
}

void GradientSynchronizer::synchronize() {
  at::NoGradGuard no_grad;
  // Which parameters have a gradient on some rank: one that has none anywhere (say, the image projections on a
  // step without image tokens) keeps none, so that the optimizer skips it as it would in one process.
  at::Tensor has_grad = at::empty({static_cast<int64_t>(parameters_.size())}, at::kBool);
  for (size_t i = 0; i < parameters_.size(); ++i) has_grad[static_cast<int64_t>(i)] = parameters_[i].grad().defined();
  group_.all_reduce(has_grad, ReduceOp::max);
  const bool* anywhere = has_grad.data_ptr<bool>();
  for (Bucket& bucket : buckets_) {
    if (bucket.members.size() == 1) {
      // A bucket of one: reduce the gradient itself, no packing copies.
      at::Tensor& parameter = parameters_[bucket.members[0]];
      if (!anywhere[bucket.members[0]]) continue;
      if (!parameter.grad().defined()) parameter.mutable_grad() = at::zeros_like(parameter);
      group_.all_reduce(parameter.grad(), ReduceOp::avg);
      continue;
    }
    if (!bucket.flat.defined()) {
      const at::Tensor& first = parameters_[bucket.members[0]];
      bucket.flat = at::empty({bucket.numel}, first.options().requires_grad(false));
    }
    int64_t offset = 0;
    for (size_t index : bucket.members) {
      const at::Tensor& parameter = parameters_[index];
      at::Tensor slot = bucket.flat.narrow(0, offset, parameter.numel()).view(parameter.sizes());
      const at::Tensor& grad = parameter.grad();
      if (grad.defined())
        slot.copy_(grad);
      else
        slot.zero_();
      offset += parameter.numel();
    }
    group_.all_reduce(bucket.flat, ReduceOp::avg);
    offset = 0;
    for (size_t index : bucket.members) {
      at::Tensor& parameter = parameters_[index];
      at::Tensor slot = bucket.flat.narrow(0, offset, parameter.numel()).view(parameter.sizes());
      if (anywhere[index]) {  // else no rank has a gradient: it stays undefined
        if (parameter.grad().defined())
          parameter.grad().copy_(slot);
        else
          parameter.mutable_grad() = slot.clone();
      }
      offset += parameter.numel();
    }
  }
}

}  // namespace mha2mla::dist

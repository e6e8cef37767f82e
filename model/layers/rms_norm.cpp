#include "model/layers/rms_norm.h"

#include <ATen/ATen.h>

namespace mha2mla {

RmsNorm::RmsNorm(int64_t hidden, double eps_, const at::TensorOptions& options)
    : weight(at::ones({hidden}, options)), eps(eps_) {}

at::Tensor RmsNorm::forward(const at::Tensor& x) const {
  // HF computes the statistics in float32 for the half types and float32; float64 stays float64 (oracle runs).
  at::Tensor x32 = x.to(at::promote_types(x.scalar_type(), at::kFloat));
  at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

void RmsNorm::visit(const std::string& prefix, const ParamVisitor& visitor) {
  visit_full(visitor, join_name(prefix, "weight"), weight);
}

}  // namespace mha2mla

// RMSNorm as Hugging Face computes it: in float32, then weight * x.to(input dtype).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

struct RmsNorm {
  at::Tensor weight;  // [hidden]
  double eps = 1e-6;

  RmsNorm() = default;
  RmsNorm(int64_t hidden, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

}  // namespace mha2mla

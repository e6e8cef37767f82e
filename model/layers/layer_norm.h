// LayerNorm with a learned scale and shift (CLIP's layer_norm1/2 and pre/post norms, Qwen2-VL's blocks).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

struct LayerNorm {
  at::Tensor weight;  // [hidden]
  at::Tensor bias;    // [hidden]
  double eps = 1e-5;

  LayerNorm() = default;
  LayerNorm(int64_t hidden, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

}  // namespace mha2mla

// The SwiGLU MLP of Llama/Qwen2: down(act(gate(x)) * up(x)).
#pragma once

#include <string>

#include "model/layers/linear.h"

namespace mha2mla {

struct GatedMlp {
  Linear gate_proj, up_proj, down_proj;
  std::string activation = "silu";

  GatedMlp() = default;
  GatedMlp(int64_t hidden, int64_t intermediate, bool with_bias, const std::string& activation,
           const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

// The activations of HF's ACT2FN that these models use: silu, gelu (exact), gelu_pytorch_tanh, quick_gelu, relu.
at::Tensor apply_activation(const at::Tensor& x, const std::string& name);

// The same, overwriting `x` when no gradient will be asked of it (inference, frozen towers): saves an allocation
// and a pass over large activations. Falls back to apply_activation when x requires grad.
at::Tensor apply_activation_(at::Tensor x, const std::string& name);

}  // namespace mha2mla

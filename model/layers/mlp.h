// The SwiGLU MLP of Llama/Qwen2: down(act(gate(x)) * up(x)). Under tensor parallelism each rank holds a slice of
// the intermediate features: gate/up column-parallel, down row-parallel (model/tensor_parallel.h).
#pragma once

#include <string>

#include "distributed/tensor_parallel.h"
#include "model/layers/linear.h"

namespace mha2mla {

struct GatedMlp {
  Linear gate_proj, up_proj, down_proj;
  std::string activation = "silu";

  GatedMlp() = default;
  dist::TensorParallel tp;  // default: the whole MLP here

  GatedMlp(int64_t hidden, int64_t intermediate, bool with_bias, const std::string& activation,
           const at::TensorOptions& options);
  // This rank's slice of the intermediate features of an MLP `intermediate` wide (it must divide by tp's size).
  GatedMlp(int64_t hidden, int64_t intermediate, bool with_bias, const std::string& activation,
           const at::TensorOptions& options, const dist::TensorParallel& tp);
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

// The activations of HF's ACT2FN that these models use: silu, gelu (exact), gelu_pytorch_tanh, quick_gelu, relu.
at::Tensor apply_activation(const at::Tensor& x, const std::string& name);

// The same, overwriting `x` when no gradient will be asked of it (inference, frozen towers): saves an allocation
// and a pass over large activations. Falls back to apply_activation when x requires grad.
at::Tensor apply_activation_(at::Tensor x, const std::string& name);

}  // namespace mha2mla

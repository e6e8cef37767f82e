#include "model/layers/mlp.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/tensor_parallel.h"

namespace mha2mla {

GatedMlp::GatedMlp(int64_t hidden, int64_t intermediate, bool with_bias, const std::string& activation_,
                   const at::TensorOptions& options)
    : gate_proj(hidden, intermediate, with_bias, options),
      up_proj(hidden, intermediate, with_bias, options),
      down_proj(intermediate, hidden, with_bias, options),
      activation(activation_) {}

GatedMlp::GatedMlp(int64_t hidden, int64_t intermediate, bool with_bias, const std::string& activation_,
                   const at::TensorOptions& options, const dist::TensorParallel& tp_)
    : GatedMlp(hidden, static_cast<int64_t>(even_slice(intermediate, tp_.size(), tp_.rank(), "intermediate_size").size()),
               with_bias, activation_, options) {
  tp = tp_;
  if (!tp.enabled()) return;
  std::vector<int64_t> columns = even_slice(intermediate, tp.size(), tp.rank(), "intermediate_size");
  gate_proj.shard = output_shard(columns, intermediate);
  up_proj.shard = output_shard(columns, intermediate);
  down_proj.shard = input_shard(columns, intermediate);
}

at::Tensor GatedMlp::forward(const at::Tensor& input) const {
  at::Tensor x = dist::copy_to_tensor_parallel(input, tp);  // f
  return row_parallel_forward(down_proj, apply_activation(gate_proj.forward(x), activation) * up_proj.forward(x), tp);
}

void GatedMlp::visit(const std::string& prefix, const ParamVisitor& visitor) {
  gate_proj.visit(join_name(prefix, "gate_proj"), visitor);
  up_proj.visit(join_name(prefix, "up_proj"), visitor);
  down_proj.visit(join_name(prefix, "down_proj"), visitor);
}

at::Tensor apply_activation(const at::Tensor& x, const std::string& name) {
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return at::gelu(x, "tanh");
  if (name == "quick_gelu") return x * at::sigmoid(1.702 * x);
  if (name == "relu") return at::relu(x);
  fail("unsupported activation '{}'; expected silu, gelu, gelu_pytorch_tanh, quick_gelu or relu", name);
}

at::Tensor apply_activation_(at::Tensor x, const std::string& name) {
  if (x.requires_grad()) return apply_activation(x, name);
  if (name == "silu" || name == "swish") return at::silu_(x);
  if (name == "gelu") return at::gelu_(x);
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return at::gelu_(x, "tanh");
  if (name == "quick_gelu") return x.mul_((x * 1.702).sigmoid_());
  if (name == "relu") return at::relu_(x);
  return apply_activation(x, name);
}

}  // namespace mha2mla

#include "model/layers/linear.h"

#include <ATen/ATen.h>

namespace mha2mla {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& options)
    : weight(at::zeros({out_features, in_features}, options)),
      bias(with_bias ? at::zeros({out_features}, options) : at::Tensor()) {}

int64_t Linear::in_features() const { return weight.size(1); }
int64_t Linear::out_features() const { return weight.size(0); }

at::Tensor Linear::forward(const at::Tensor& x) const {
  at::Tensor y = at::linear(x, weight, bias);
  if (lora.defined()) y = y + at::linear(at::linear(x, lora.a), lora.b) * lora.scale;
  return y;
}

at::Tensor Linear::merged_weight() const {
  if (!lora.defined()) return weight;
  return weight + at::matmul(lora.b, lora.a) * lora.scale;
}

void Linear::visit(const std::string& prefix, const ParamVisitor& visitor) {
  visit_full(visitor, join_name(prefix, "weight"), weight);
  if (bias.defined()) visit_full(visitor, join_name(prefix, "bias"), bias);
  if (lora.defined()) {
    visit_full(visitor, join_name(prefix, "lora_A.weight"), lora.a);
    visit_full(visitor, join_name(prefix, "lora_B.weight"), lora.b);
  }
}

}  // namespace mha2mla

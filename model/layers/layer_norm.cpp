#include "model/layers/layer_norm.h"

#include <ATen/ATen.h>

namespace mha2mla {

LayerNorm::LayerNorm(int64_t hidden, double eps_, const at::TensorOptions& options)
    : weight(at::ones({hidden}, options)), bias(at::zeros({hidden}, options)), eps(eps_) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }

void LayerNorm::visit(const std::string& prefix, const ParamVisitor& visitor) {
  visit_full(visitor, join_name(prefix, "weight"), weight);
  visit_full(visitor, join_name(prefix, "bias"), bias);
}

}  // namespace mha2mla

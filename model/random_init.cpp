#include "model/random_init.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/strings.h"

namespace mha2mla {

void init_random(const std::function<void(const ParamVisitor&)>& walk, uint64_t seed, double std, double norm_std) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  walk([&](ParamRef& ref) {
    at::Tensor& t = *ref.tensor;
    bool is_norm = ends_with(ref.name, "norm.weight") || ends_with(ref.name, "layernorm.weight") ||
                   ends_with(ref.name, "norm1.weight") || ends_with(ref.name, "norm2.weight") ||
                   ends_with(ref.name, "ln_q.weight");
    at::Tensor values = at::empty(t.sizes(), at::TensorOptions().dtype(at::kDouble));
    values.normal_(0.0, is_norm ? norm_std : std, generator);
    if (is_norm) values.add_(1.0);
    t.copy_(values.to(t.scalar_type()));
  });
}

}  // namespace mha2mla

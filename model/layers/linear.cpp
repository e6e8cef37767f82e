#include "model/layers/linear.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& options)
    : weight(at::zeros({out_features, in_features}, options)),
      bias(with_bias ? at::zeros({out_features}, options) : at::Tensor()) {}

int64_t Linear::in_features() const { return weight.size(1); }
int64_t Linear::out_features() const { return weight.size(0); }

namespace {

at::Tensor plus_adapter(const at::Tensor& y, const at::Tensor& x, const LoraAdapter& lora) {
  return lora.defined() ? y + at::linear(at::linear(x, lora.a), lora.b) * lora.scale : y;
}

}  // namespace

at::Tensor Linear::forward(const at::Tensor& x) const { return plus_adapter(at::linear(x, weight, bias), x, lora); }

at::Tensor Linear::forward_from_frozen(const at::Tensor& x, const at::Tensor& frozen) const {
  return plus_adapter(frozen, x, lora);
}

at::Tensor Linear::forward_without_bias(const at::Tensor& x) const { return plus_adapter(at::linear(x, weight), x, lora); }

int64_t Linear::full_in_features() const { return shard.split == LinearShard::Split::input ? shard.full_size : in_features(); }

void Linear::attach_lora(const at::Tensor& full_a, double scale) {
  MHA2MLA_CHECK(full_a.dim() == 2 && full_a.size(1) == full_in_features(), "LoRA A of shape [{}, {}] for {} inputs",
                full_a.size(0), full_a.dim() == 2 ? full_a.size(1) : -1, full_in_features());
  MHA2MLA_CHECK(shard.copies == 1, "LoRA on a layer whose rows several tensor-parallel ranks share");
  at::Tensor a = full_a;
  if (shard.split == LinearShard::Split::input) a = a.index_select(1, at::tensor(shard.indices, at::kLong));
  lora.a = a.to(weight.options()).contiguous();
  lora.b = at::zeros({out_features(), full_a.size(0)}, weight.options());
  lora.scale = scale;
}

at::Tensor Linear::merged_weight() const {
  if (!lora.defined()) return weight;
  return weight + at::matmul(lora.b, lora.a) * lora.scale;
}

namespace {

// A tensor every tensor-parallel rank holds whole but whose gradient each rank computes only in part.
void visit_replicated_trainable(const ParamVisitor& visitor, const std::string& name, at::Tensor& tensor) {
  ParamRef ref;
  ref.name = name;
  ref.tensor = &tensor;
  ref.tp_replicated_trainable = true;
  visitor(ref);
}

}  // namespace

void Linear::visit(const std::string& prefix, const ParamVisitor& visitor) {
  const std::string weight_name = join_name(prefix, "weight"), bias_name = join_name(prefix, "bias");
  switch (shard.split) {
    case LinearShard::Split::none:
      if (shard.replicated_trainable) {
        visit_replicated_trainable(visitor, weight_name, weight);
        if (bias.defined()) visit_replicated_trainable(visitor, bias_name, bias);
      } else {
        visit_full(visitor, weight_name, weight);
        if (bias.defined()) visit_full(visitor, bias_name, bias);
      }
      break;
    case LinearShard::Split::output:
      visit_slice(visitor, weight_name, weight, 0, shard.indices, shard.full_size, shard.copies);
      if (bias.defined()) visit_slice(visitor, bias_name, bias, 0, shard.indices, shard.full_size, shard.copies);
      break;
    case LinearShard::Split::input:
      visit_slice(visitor, weight_name, weight, 1, shard.indices, shard.full_size, shard.copies);
      if (bias.defined()) visit_full(visitor, bias_name, bias);  // added after the reduction: its gradient is whole
      break;
  }
  visit_lora(prefix, visitor);
}

void Linear::visit_lora(const std::string& prefix, const ParamVisitor& visitor) {
  if (!lora.defined()) return;
  const std::string a_name = join_name(prefix, "lora_A.weight"), b_name = join_name(prefix, "lora_B.weight");
  switch (shard.split) {
    case LinearShard::Split::none:
      visit_full(visitor, a_name, lora.a);
      visit_full(visitor, b_name, lora.b);
      break;
    case LinearShard::Split::output:  // A [rank, in] whole, B [out, rank] by rows
      visit_replicated_trainable(visitor, a_name, lora.a);
      visit_slice(visitor, b_name, lora.b, 0, shard.indices, shard.full_size, 1);
      break;
    case LinearShard::Split::input:   // A [rank, in] by columns, B [out, rank] whole
      visit_slice(visitor, a_name, lora.a, 1, shard.indices, shard.full_size, 1);
      visit_replicated_trainable(visitor, b_name, lora.b);
      break;
  }
}

}  // namespace mha2mla

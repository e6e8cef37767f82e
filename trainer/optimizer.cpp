#include "trainer/optimizer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "trainer/train_config.h"

namespace mha2mla {
namespace {

constexpr const char* kStepsTakenKey = "adamw.steps_taken";

bool is_lora_name(const std::string& name) {
  for (const auto& part : split(name, '.'))
    if (starts_with(part, "lora_")) return true;
  return false;
}

std::string describe_tensor(at::ScalarType dtype, at::IntArrayRef sizes) {
  std::string shape;
  for (size_t i = 0; i < sizes.size(); ++i) shape += (i ? ", " : "") + std::to_string(sizes[i]);
  return fmt::format("{} [{}]", c10::toString(dtype), shape);
}

std::string describe_tensor(const at::Tensor& t) { return describe_tensor(t.scalar_type(), t.sizes()); }

}  // namespace

AdamWOptions adamw_options(const OptimizerConfig& config) {
  AdamWOptions options;
  options.beta1 = config.beta1;
  options.beta2 = config.beta2;
  options.eps = config.eps;
  return options;
}

std::vector<ParamGroup> make_param_groups(const std::vector<ParamRef>& trainable, const OptimizerConfig& config) {
  ParamGroup weights{"weights", {}, 1.0, config.weight_decay};
  ParamGroup vectors{"vectors", {}, 1.0, config.decay_vectors ? config.weight_decay : 0.0};
  ParamGroup lora{"lora", {}, config.lora_lr_scale, config.weight_decay};
  for (const auto& ref : trainable) {
    MHA2MLA_CHECK(ref.tensor && ref.tensor->defined(), "trainable parameter '{}' has no tensor", ref.name);
    if (is_lora_name(ref.name)) lora.params.push_back(ref);
    else if (ref.tensor->dim() <= 1) vectors.params.push_back(ref);
    else weights.params.push_back(ref);
  }
  std::vector<ParamGroup> groups;
  for (auto* group : {&weights, &vectors, &lora})
    if (!group->params.empty()) groups.push_back(std::move(*group));
  return groups;
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : groups_(std::move(groups)), options_(options) {
  std::set<std::string> names;
  std::set<const void*> tensors;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (const auto& ref : groups_[g].params) {
      if (!ref.tensor || !ref.tensor->defined()) fail("optimizer: parameter '{}' has no tensor", ref.name);
      if (!at::isFloatingType(ref.tensor->scalar_type()))
        fail("optimizer: parameter '{}' is {}; only floating-point tensors can be trained", ref.name,
             describe_tensor(*ref.tensor));
      if (!names.insert(ref.name).second) fail("optimizer: parameter '{}' is listed twice", ref.name);
      if (!tensors.insert(ref.tensor->unsafeGetTensorImpl()).second)
        fail("optimizer: parameter '{}' is the same tensor as another listed parameter", ref.name);
      Slot slot;
      slot.name = ref.name;
      slot.param = ref.tensor;
      slot.group = g;
      auto float_options = ref.tensor->options().dtype(at::kFloat).requires_grad(false);
      slot.exp_avg = at::zeros(ref.tensor->sizes(), float_options);
      slot.exp_avg_sq = at::zeros(ref.tensor->sizes(), float_options);
      if (ref.tensor->scalar_type() != at::kFloat) slot.master = ref.tensor->detach().to(at::kFloat, false, true);
      slots_.push_back(std::move(slot));
    }
  }
}

void AdamW::update(Slot& slot, const at::Tensor& grad_in, double lr, double weight_decay) {
  at::Tensor& target = slot.master.defined() ? slot.master : *slot.param;
  at::Tensor grad = grad_in.scalar_type() == at::kFloat ? grad_in : grad_in.to(at::kFloat);
  slot.step += 1;
  // The order and the scalars below are torch.optim.AdamW's, so that float32 results agree bit for bit.
  if (weight_decay != 0.0) target.mul_(1.0 - lr * weight_decay);
  slot.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
  slot.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
  const double step = static_cast<double>(slot.step);
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  at::Tensor denom = (slot.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
  target.addcdiv_(slot.exp_avg, denom, -step_size);
  if (slot.master.defined()) slot.param->copy_(slot.master);
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  for (auto& slot : slots_) {
    const at::Tensor& grad = slot.param->grad();
    if (!grad.defined()) continue;
    if (grad.sizes() != slot.param->sizes())
      fail("optimizer: gradient of '{}' is {} but the parameter is {}", slot.name, describe_tensor(grad),
           describe_tensor(*slot.param));
    const ParamGroup& group = groups_[slot.group];
    update(slot, grad, lr * group.lr_scale, group.weight_decay);
  }
  ++steps_taken_;
}

void AdamW::zero_grad() {
  for (auto& slot : slots_)
    if (slot.param->grad().defined()) slot.param->mutable_grad() = at::Tensor();
}

std::map<std::string, at::Tensor> AdamW::state_dict() const {
  std::map<std::string, at::Tensor> state;
  for (const auto& slot : slots_) {
    state[slot.name + ".exp_avg"] = slot.exp_avg;
    state[slot.name + ".exp_avg_sq"] = slot.exp_avg_sq;
    state[slot.name + ".step"] = at::scalar_tensor(slot.step, at::TensorOptions().dtype(at::kLong));
    if (slot.master.defined()) state[slot.name + ".master"] = slot.master;
  }
  state[kStepsTakenKey] = at::scalar_tensor(steps_taken_, at::TensorOptions().dtype(at::kLong));
  return state;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state, const std::string& source) {
  std::set<std::string> expected;
  auto take = [&](const std::string& name, at::ScalarType dtype, at::IntArrayRef shape) -> const at::Tensor& {
    expected.insert(name);
    auto it = state.find(name);
    if (it == state.end())
      fail_with_hint("the optimizer state must come from a run with the same trainable parameters",
                     "{}: optimizer state '{}' is missing", source, name);
    const at::Tensor& t = it->second;
    if (t.scalar_type() != dtype || t.sizes() != shape)
      fail("{}: optimizer state '{}' is {} but this run expects {}", source, name, describe_tensor(t),
           describe_tensor(dtype, shape));
    return t;
  };
  at::NoGradGuard no_grad;
  // Check everything before changing anything, so that a refused state leaves the optimizer as it was.
  struct Pending {
    Slot* slot;
    const at::Tensor* exp_avg;
    const at::Tensor* exp_avg_sq;
    const at::Tensor* master;
    int64_t step;
  };
  std::vector<Pending> pending;
  for (auto& slot : slots_) {
    Pending p{&slot, nullptr, nullptr, nullptr, 0};
    p.exp_avg = &take(slot.name + ".exp_avg", at::kFloat, slot.param->sizes());
    p.exp_avg_sq = &take(slot.name + ".exp_avg_sq", at::kFloat, slot.param->sizes());
    p.step = take(slot.name + ".step", at::kLong, {}).item<int64_t>();
    if (p.step < 0) fail("{}: optimizer state '{}.step' is {}: expected >= 0", source, slot.name, p.step);
    if (slot.master.defined()) p.master = &take(slot.name + ".master", at::kFloat, slot.param->sizes());
    pending.push_back(p);
  }
  int64_t steps_taken = take(kStepsTakenKey, at::kLong, {}).item<int64_t>();
  for (const auto& [name, tensor] : state)
    if (!expected.count(name))
      fail_with_hint("the optimizer state must come from a run with the same trainable parameters",
                     "{}: unexpected optimizer state '{}' (no such trainable parameter in this run)", source, name);
  for (auto& p : pending) {
    p.slot->exp_avg.copy_(*p.exp_avg);
    p.slot->exp_avg_sq.copy_(*p.exp_avg_sq);
    p.slot->step = p.step;
    if (p.master) {
      p.slot->master.copy_(*p.master);
      p.slot->param->copy_(p.slot->master);
    }
  }
  steps_taken_ = steps_taken;
}

std::string AdamW::summary() const {
  std::string out = fmt::format("AdamW (beta1 {}, beta2 {}, eps {:g})", options_.beta1, options_.beta2, options_.eps);
  for (const auto& group : groups_) {
    int64_t elements = 0;
    for (const auto& ref : group.params) elements += ref.tensor->numel();
    out += fmt::format("\n  {:<8} {:>5} tensors {:>12} elements  lr x{:g}  weight decay {:g}", group.name,
                       group.params.size(), elements, group.lr_scale, group.weight_decay);
  }
  return out;
}

}  // namespace mha2mla

// AdamW written out over at::Tensor (no torch::optim), with parameter groups and a state that saves and
// restores bit for bit.
//
// The update is torch.optim.AdamW's (PyTorch 1.13, single-tensor path, amsgrad off), op for op, so that a
// float32 parameter ends bitwise equal to what PyTorch computes (tests/python/test_optimizer.py):
//   t += 1
//   p *= 1 - lr * weight_decay                                 (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// with lr = schedule's rate * the group's lr_scale. Moments are float32 whatever the parameter's dtype; a
// parameter that is not float32 (bfloat16, half) gets a float32 master copy that the update works on,
// and the parameter is that copy rounded after every step.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

struct OptimizerConfig;

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
};

struct ParamGroup {
  std::string name;              // for logs: "weights", "vectors", "lora"
  std::vector<ParamRef> params;  // ParamRef::tensor must outlive the optimizer
  double lr_scale = 1.0;         // this group's lr = schedule's lr * lr_scale
  double weight_decay = 0.0;
};

// The recipe's grouping of trainable parameters (empty groups are dropped):
//   "lora":    names with a "lora_" component ("...q_proj.lora_a.weight"): lr * optimizer.lora_lr_scale,
//              optimizer.weight_decay;
//   "vectors": other tensors of one dimension (norm weights, biases): no weight decay unless
//              optimizer.decay_vectors;
//   "weights": the rest (latent projections, ...): optimizer.weight_decay.
std::vector<ParamGroup> make_param_groups(const std::vector<ParamRef>& trainable, const OptimizerConfig& config);

AdamWOptions adamw_options(const OptimizerConfig& config);

class AdamW {
 public:
  // Throws Error when a parameter appears twice (by name or by tensor), is undefined, or is not floating.
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);

  // One update with the schedule's learning rate `lr`. A parameter whose gradient is undefined is left as
  // it is and its state does not advance (as torch.optim does).
  void step(double lr);

  // Resets every gradient to undefined (the next backward allocates fresh ones).
  void zero_grad();

  int64_t steps_taken() const { return steps_taken_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  const AdamWOptions& options() const { return options_; }
  size_t parameter_count() const { return slots_.size(); }

  // The state as named tensors, aliasing the live state (copy before the next step if you keep them):
  //   "<param>.exp_avg", "<param>.exp_avg_sq"   float32, the parameter's shape
  //   "<param>.step"                            int64 scalar: updates this parameter has had
  //   "<param>.master"                          float32, only for parameters that are not float32
  //   "adamw.steps_taken"                       int64 scalar: step() calls
  std::map<std::string, at::Tensor> state_dict() const;

  // Restores a state_dict() exactly. Every expected name must be present with its shape and dtype and no
  // other name may be: errors name `source` (the file it came from) and the tensor. Parameters with a
  // master copy are set to the restored master, rounded, so that weights and state agree.
  void load_state_dict(const std::map<std::string, at::Tensor>& state, const std::string& source);

  // One line per group: name, tensors, elements, lr scale, weight decay.
  std::string summary() const;

 private:
  struct Slot {
    std::string name;
    at::Tensor* param = nullptr;
    size_t group = 0;
    at::Tensor exp_avg;
    at::Tensor exp_avg_sq;
    at::Tensor master;  // undefined for float32 parameters
    int64_t step = 0;
  };
  void update(Slot& slot, const at::Tensor& grad, double lr, double weight_decay);

  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  std::vector<Slot> slots_;
  int64_t steps_taken_ = 0;
};

}  // namespace mha2mla

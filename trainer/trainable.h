// Which parameters a run trains (everything else is frozen: requires_grad off), and the LoRA adapters.
//
//   default  the student's latent projections (down / up, per modality) + LoRA adapters on the student's
//            q_proj / o_proj (train.lora.targets)
//   stage1 / stage2  the paper's sets: every student attention tensor (k_rope_proj, latent projections, up
//            biases) + LoRA; see docs/training.md for how they relate to the paper's lists
//   full     every parameter of the model (the SFT stage that trains the demo teacher)
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model.h"
#include "trainer/train_config.h"

namespace mha2mla {

struct TrainableParameter {
  std::string name;     // canonical name
  at::Tensor tensor;    // shares storage with the model's parameter
  std::string group;    // "latent", "lora", "attention", "all"
};

// Adds LoRA adapters (A ~ U(-1/sqrt(in), 1/sqrt(in)) from `seed`, B = 0, scale alpha / rank) to the student
// attention's projections named in lora.targets. Existing adapters (a resumed or stage-2 model) are kept.
void attach_lora(Model& model, const LoraConfig& lora, uint64_t seed);

// Freezes every parameter, then enables and returns the chosen set, in model visiting order.
std::vector<TrainableParameter> select_trainable(Model& model, const TrainConfig& train);

}  // namespace mha2mla

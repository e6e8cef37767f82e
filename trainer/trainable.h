// Which parameters a run trains (everything else is frozen: requires_grad off), and the LoRA adapters.
//
//   default  the student's latent projections (down / up, per modality) + LoRA adapters on the student's
//            q_proj / o_proj (train.lora.targets)
//   stage1   the paper's stage-1 set (shared/method.md section 5): q_proj, the k_N and v projections (k_up / v_up
//            with their biases: at full rank these are the NoPE key rows and the value rows) and the input norm
//            + LoRA adapters when train.lora.rank > 0
//   stage2   all attention weights and the norm: q_proj, k_rope_proj, the latent projections and up biases,
//            o_proj, the input norm + LoRA
//   full     every parameter of the model (the SFT stage that trains the demo teacher)
//
// q_proj, o_proj and input_layernorm are shared with the frozen teacher, so stage1 / stage2 first give the student
// its own copies of the ones they train (give_preset_copies, model/mla/student_copies.h); the teacher stays intact.
// docs/training.md lists the sets tensor by tensor.
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
  std::string group;    // "latent", "lora", "attention", "norm", "all"
};

// Adds LoRA adapters (A ~ U(-1/sqrt(in), 1/sqrt(in)) from `seed`, B = 0, scale alpha / rank) to the student
// attention's projections named in lora.targets, and records them in model.mla (so the trained folder loads back
// with them). A model that already carries adapters (a trained folder, a stage-2 conversion of one) keeps them as
// they are, with a warning when train.lora asks for another shape.
void attach_lora(Model& model, const LoraConfig& lora, uint64_t seed);

// The shared tensors `preset` trains: stage1 {q_proj, input_layernorm}, stage2 {q_proj, o_proj, input_layernorm},
// else none.
std::vector<std::string> preset_copies(const std::string& preset);

// Gives the student its own copies of preset_copies(train.trainable) (kept when it already has them) and records
// them in model.mla, so that the trained folder saves and reloads them. No-op for default / full.
void give_preset_copies(Model& model, const TrainConfig& train);

// Whether the preset trains the original (unconverted) model: full and language, the SFT presets.
bool trains_original_model(const std::string& preset);

// Freezes every parameter, then enables and returns the chosen set, in model visiting order.
std::vector<TrainableParameter> select_trainable(Model& model, const TrainConfig& train);

}  // namespace mha2mla

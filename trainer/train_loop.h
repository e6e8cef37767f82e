// `mha2mla train`: the training loop. One process or many (data x tensor parallel), resumable bit for bit:
//
//   load the model (train.init_from; each tensor-parallel rank its slices) -> LoRA + trainable set -> AdamW +
//   schedule -> resume (weights, optimizer, data cursor, RNG) -> for each step: grad_accum micro-batches of
//   loss_and_backward, gradient sync across data-parallel ranks, the sum over tensor-parallel ranks of the
//   gradients of replicated trainable tensors, clipping (global norm over the slices), NaN/Inf guard, update,
//   metrics, checkpoints (per tensor-parallel rank weights), preemption check -> final checkpoint and the trained
//   model folder (train.output, whole tensors).
#pragma once

#include "distributed/distributed_runtime.h"
#include "trainer/recipe.h"

namespace mha2mla {

// Returns the process exit code (0: completed or preempted with a checkpoint).
int run_training(const Recipe& recipe, dist::DistributedRuntime& runtime);

// The checkpoint folder a recipe trains from: train.init_from, else convert.output (model.path for sft).
std::string training_init_folder(const Recipe& recipe);

}  // namespace mha2mla

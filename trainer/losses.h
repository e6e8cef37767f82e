// The training objectives (shared/method.md section 5), computed for one prepared batch and back-propagated
// here, so that local distillation can free each layer's graph as soon as its loss is known.
//
//   activation (per layer l): ||o_S^l - o_T^l||^2 / ||o_T^l||^2 over valid tokens, averaged over layers, where o
//     is the attention block output after o_proj. local mode: the student attention of layer l gets the
//     teacher's layer-l input (one teacher pass yields every target, each student layer back-propagated as the
//     pass reaches it: one layer's activations alive at a time; no backward through the network);
//     global mode: the student runs its own forward.
//   kl: KL(teacher || student) of next-token distributions, mean over valid tokens (global forward).
//   ce: next-token cross-entropy on the SFT labels (-100 ignored), mean over supervised tokens.
// The SFT stage trains the original model on ce alone.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model.h"
#include "trainer/train_config.h"

namespace mha2mla {

struct LossValues {
  double total = 0;
  std::map<std::string, double> terms;        // "activation", "kl", "ce" (those with weight > 0)
  std::vector<double> layer_activation_error;  // per layer, when the activation term is computed
  int64_t tokens = 0;                          // valid tokens in the batch
};

// Sums a few doubles in place over the data-parallel ranks (empty function: one rank).
using SumAcrossRanks = std::function<void(std::vector<double>&)>;

// Computes the weighted loss of `inputs` (labels [B, T] int64, -100 ignored), scales it by `scale` (1 / grad
// accumulation steps) and back-propagates it into the trainable parameters.
//
// Every term is normalised by quantities of the whole data-parallel batch (supervised tokens, valid tokens,
// each layer's teacher energy ||o_T||^2), summed across ranks with `sum_across_ranks` before the backward (a
// collective: once per call, plus once per layer in local mode, the same sequence on every rank), so
// each rank contributes its exact share: the contributions (returned, unscaled) add up over ranks to the loss of
// the whole batch, and so do the gradients. Data parallelism therefore equals one process on the whole batch.
LossValues loss_and_backward(Model& model, const PreparedInputs& inputs, const at::Tensor& labels,
                             const TrainConfig& train, double scale, const SumAcrossRanks& sum_across_ranks = {});

// The same quantities without gradients, for evaluation: per-layer activation error of the student against the
// teacher (teacher-forced, as in local mode; not for an hf-mla export, which has no teacher), and the student's CE
// on `labels` (the original model's when not converted or train.stage = sft).
LossValues evaluate_losses(Model& model, const PreparedInputs& inputs, const at::Tensor& labels, const TrainConfig& train);

// Masked squared-error ratio sum ||a - b||^2 / sum ||b||^2 over tokens where `valid` [B, T] is true.
at::Tensor relative_squared_error(const at::Tensor& student, const at::Tensor& teacher, const at::Tensor& valid);
// The two sums apart: sum ||a - b||^2 and sum ||b||^2 over valid tokens.
at::Tensor masked_squared_norm(const at::Tensor& x, const at::Tensor& valid);

}  // namespace mha2mla

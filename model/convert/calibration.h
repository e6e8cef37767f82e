// Calibration statistics (shared/method.md sections 3 and 4), gathered by streaming samples through the
// original model. Per layer and per modality (text, image tokens):
//   - 2-norm statistics: sums over tokens of each frequency pair's norm ||q_{t,i,j}|| (per query head) and
//     ||k_{t,g,j}|| (per KV head), pre-RoPE (pair norms are RoPE-invariant);
//   - modality-adaptive ("mkl") sums: for each KV head g and pair j, the KL divergence between the teacher's
//     attention probabilities and those with pair j's RoPE removed (for q and k), summed over the query tokens
//     of that modality and the query heads of g;
//   - second moments X^T X (float64) of the attention inputs (after input_layernorm), for activation-aware
//     SVD, and separate held-out moments for reporting activation errors.
// All statistics are sums with token counts, so ranks and appended runs combine by addition.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/convert/mla_init.h"
#include "model/model.h"

#include <functional>

namespace mha2mla {

enum Modality : int { kText = 0, kImage = 1 };
const char* modality_name(int modality);

struct LayerCalibration {
  std::array<at::Tensor, 2> q_pair_norm_sum;  // [heads, pairs] float64, per modality
  std::array<at::Tensor, 2> k_pair_norm_sum;  // [kv_heads, pairs]
  std::array<at::Tensor, 2> kl_sum;           // [kv_heads, pairs]
  std::array<at::Tensor, 2> moments;          // [hidden, hidden]
  std::array<at::Tensor, 2> held_out_moments;
};

class Calibration {
 public:
  Calibration() = default;
  // Zeroed accumulators for `model`'s shapes.
  explicit Calibration(const Model& model);

  // Streams one prepared batch through the teacher and accumulates. Held-out batches only add moments.
  void observe(Model& model, const PreparedInputs& inputs, bool held_out);

  // Combines ranks: `sum_tensor` must sum a tensor over the ranks in place, `sum_count` a count (the caller
  // brings the communicator; model/ does not depend on distributed/ for this).
  void reduce(const std::function<void(at::Tensor&)>& sum_tensor, const std::function<int64_t(int64_t)>& sum_count);

  // Adds another calibration's sums (appending a later run, or combining partial results).
  void add(const Calibration& other);

  // Scores [kv_heads, pairs] for a layer; higher = keep RoPE.
  //   2norm: sum over the group's query heads of mean||q|| * mean||k|| over all tokens;
  //   2norm_modality: the same per modality, each from its own token means, added;
  //   mkl: mean KL per query token of each modality (each normalised by its own token count), added.
  at::Tensor scores(int64_t layer, const std::string& strategy) const;

  LayerInputMoments moments(int64_t layer, bool held_out) const;

  void save(const std::string& folder, const std::string& model_source) const;
  static Calibration load(const std::string& folder);

  std::vector<LayerCalibration> layers;
  std::array<int64_t, 2> tokens{0, 0};             // calibration tokens per modality (valid, not padding)
  std::array<int64_t, 2> held_out_tokens{0, 0};
  int64_t samples = 0;
  int64_t held_out_samples = 0;
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  // Where each data-parallel rank's sample stream stood after the samples seen (opaque, from the data pipeline),
  // so that appending continues with new samples.
  std::vector<std::string> cursors;
};

// The per-(KV head, pair) KL divergence of attention probabilities when pair j loses RoPE, summed over the
// query heads of each KV group, for one layer's q/k: q_pre [B, H, T, d], k_pre [B, Hkv, S, d] (pre-RoPE),
// cos/sin [B, T, d], bias [B, 1, T, S]. Returns [B, T, Hkv, pairs] per query token.
at::Tensor rope_removal_kl(const at::Tensor& q_pre, const at::Tensor& k_pre, const at::Tensor& cos,
                           const at::Tensor& sin, const at::Tensor& bias);

}  // namespace mha2mla

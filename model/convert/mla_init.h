// Initialising one layer's MLA attention from the original weights (shared/method.md sections 2 and 4): the
// kept rows of W_k become k_rope_proj; the NoPE rows of W_k and all of W_v are factorised into the latent
// projections (jointly, or keys and values apart for the split variant), per modality with that modality's
// input statistics for the activation-aware initialisation. Biases stay on the up projections.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/attention.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {

// Second moments of one layer's attention inputs (after input_layernorm), float64 [hidden, hidden].
struct LayerInputMoments {
  at::Tensor text;
  at::Tensor image;      // undefined or zero when the data had no image tokens
  int64_t text_tokens = 0;
  int64_t image_tokens = 0;
};

enum class LowRankInit { svd, activation_svd };
LowRankInit parse_low_rank_init(const std::string& name);

// Errors of one factorised matrix, relative (see low_rank.h); `activation` is measured with held-out moments.
struct FactorisationErrors {
  double parameter = 0;
  double activation = 0;
};

struct ModalityReport {
  std::string modality;          // text, image or shared
  FactorisationErrors plain;     // plain SVD at the same rank
  FactorisationErrors aware;     // activation-aware SVD at the same rank
};

struct LayerInitReport {
  std::vector<ModalityReport> modalities;
};

// Fills `student` (whose layout is already set) from `teacher`. `calibration` supplies the activation-aware
// statistics; `held_out` (may equal calibration when none was kept) measures activation errors for the report.
LayerInitReport initialise_mla_layer(MlaAttention& student, const GqaAttention& teacher, LowRankInit init,
                                     double ridge, const LayerInputMoments& calibration,
                                     const LayerInputMoments& held_out);

// The rows of the original k_proj weight (or bias) that feed RoPE (`rope`) or the latent (`!rope`), per KV
// head in the layout's order.
at::Tensor key_rows(const at::Tensor& k_weight_or_bias, const MlaLayerLayout& layout, bool rope);

}  // namespace mha2mla

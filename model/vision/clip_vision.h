// The CLIP vision transformer as LLaVA uses it (transformers' CLIPVisionTransformer): a bias-free patch
// convolution, a class token, learned position embeddings, pre_layrnorm, pre-norm encoder layers (q/k/v/out
// projections with bias, fc1 -> quick_gelu -> fc2), and post_layernorm, which is loaded but unused because
// LLaVA reads the hidden states of an inner layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/io/hf_config.h"
#include "model/layers/layer_norm.h"
#include "model/layers/linear.h"

namespace mha2mla {

struct ClipEncoderLayer {
  LayerNorm layer_norm1, layer_norm2;
  Linear q_proj, k_proj, v_proj, out_proj;
  Linear fc1, fc2;
};

class ClipVisionTower {
 public:
  ClipVisionTower(const hf::ClipVisionConfig& config, const at::TensorOptions& options);

  // The encoder's hidden states for `layers`, numbered as transformers' `hidden_states` tuple: 0 is the
  // embedding output after pre_layrnorm, i the output of encoder layer i; negative numbers count from the end
  // (-1 = the last layer). pixel_values [N, channels, image_size, image_size]; each result [N, 1 + patches,
  // hidden]. Runs only as many layers as the deepest requested one needs.
  std::vector<at::Tensor> hidden_states(const at::Tensor& pixel_values, const std::vector<int64_t>& layers) const;

  // HF names below vision_model: embeddings.*, pre_layrnorm.*, encoder.layers.N.*, post_layernorm.*.
  void visit(const std::string& prefix, const ParamVisitor& visitor);

  const hf::ClipVisionConfig& config() const { return config_; }

  at::Tensor class_embedding;       // [hidden]
  at::Tensor patch_embedding;       // [hidden, channels, patch, patch] (a Conv2d weight, no bias)
  at::Tensor position_embedding;    // [1 + patches, hidden]
  LayerNorm pre_layrnorm;           // sic: the HF module name
  std::vector<ClipEncoderLayer> layers;
  LayerNorm post_layernorm;

 private:
  at::Tensor embed(const at::Tensor& pixel_values) const;
  at::Tensor layer_forward(const ClipEncoderLayer& layer, const at::Tensor& x) const;

  hf::ClipVisionConfig config_;
};

}  // namespace mha2mla

#include "model/vision/clip_vision.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "model/layers/mlp.h"
#include "model/vision/vision_attention.h"

namespace mha2mla {

ClipVisionTower::ClipVisionTower(const hf::ClipVisionConfig& config, const at::TensorOptions& options)
    : config_(config) {
  const int64_t D = config.hidden_size, P = config.patch_size;
  const int64_t positions = 1 + config.patches_per_side() * config.patches_per_side();
  class_embedding = at::zeros({D}, options);
  patch_embedding = at::zeros({D, config.num_channels, P, P}, options);
  position_embedding = at::zeros({positions, D}, options);
  pre_layrnorm = LayerNorm(D, config.layer_norm_eps, options);
  layers.resize(static_cast<size_t>(config.num_hidden_layers));
  for (auto& layer : layers) {
    layer.layer_norm1 = LayerNorm(D, config.layer_norm_eps, options);
    layer.q_proj = Linear(D, D, true, options);
    layer.k_proj = Linear(D, D, true, options);
    layer.v_proj = Linear(D, D, true, options);
    layer.out_proj = Linear(D, D, true, options);
    layer.layer_norm2 = LayerNorm(D, config.layer_norm_eps, options);
    layer.fc1 = Linear(D, config.intermediate_size, true, options);
    layer.fc2 = Linear(config.intermediate_size, D, true, options);
  }
  post_layernorm = LayerNorm(D, config.layer_norm_eps, options);
}

at::Tensor ClipVisionTower::embed(const at::Tensor& pixel_values) const {
  const int64_t size = config_.image_size;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != config_.num_channels || pixel_values.size(2) != size ||
      pixel_values.size(3) != size)
    fail("CLIP vision tower: pixel_values of shape [{}] do not match the model ([images, {}, {}, {}] from "
         "vision_config image_size / num_channels)",
         fmt::join(pixel_values.sizes(), ", "), config_.num_channels, size, size);
  const int64_t N = pixel_values.size(0), D = config_.hidden_size;
  const int64_t stride = config_.patch_size;
  at::Tensor patches = at::conv2d(pixel_values.to(patch_embedding.scalar_type()), patch_embedding, at::Tensor(),
                                  {stride, stride});  // [N, D, g, g]
  patches = patches.flatten(2).transpose(1, 2);                          // [N, g*g, D]
  at::Tensor cls = class_embedding.view({1, 1, D}).expand({N, 1, D});
  return at::cat({cls, patches}, 1) + position_embedding.unsqueeze(0);
}

at::Tensor ClipVisionTower::layer_forward(const ClipEncoderLayer& layer, const at::Tensor& x) const {
  const int64_t N = x.size(0), S = x.size(1), H = config_.num_attention_heads, d = config_.head_dim();
  at::Tensor h = layer.layer_norm1.forward(x);
  auto heads = [&](const at::Tensor& t) { return t.view({N, S, H, d}).transpose(1, 2); };
  at::Tensor attended = bidirectional_attention(heads(layer.q_proj.forward(h)), heads(layer.k_proj.forward(h)),
                                                heads(layer.v_proj.forward(h)), 1.0 / std::sqrt(static_cast<double>(d)));
  at::Tensor out = layer.out_proj.forward(attended.transpose(1, 2).reshape({N, S, H * d})).add_(x);
  h = layer.layer_norm2.forward(out);
  return layer.fc2.forward(apply_activation_(layer.fc1.forward(h), config_.hidden_act)).add_(out);
}

std::vector<at::Tensor> ClipVisionTower::hidden_states(const at::Tensor& pixel_values,
                                                       const std::vector<int64_t>& requested) const {
  const int64_t count = static_cast<int64_t>(layers.size()) + 1;  // embeddings + one per layer
  std::vector<int64_t> indices;
  for (int64_t layer : requested) {
    const int64_t index = layer < 0 ? layer + count : layer;
    if (index < 0 || index >= count)
      fail("vision_feature_layer {} is out of range for a CLIP tower with {} layers (expected -{}..{})", layer,
           layers.size(), count, count - 1);
    indices.push_back(index);
  }
  const int64_t deepest = indices.empty() ? 0 : *std::max_element(indices.begin(), indices.end());
  // Keep only the requested states: a 24-layer tower over many tiles would otherwise hold every layer's output.
  std::vector<at::Tensor> selected(indices.size());
  auto keep = [&](int64_t index, const at::Tensor& state) {
    for (size_t i = 0; i < indices.size(); ++i)
      if (indices[i] == index) selected[i] = state;
  };
  at::Tensor state = pre_layrnorm.forward(embed(pixel_values));
  keep(0, state);
  for (int64_t i = 1; i <= deepest; ++i) {
    state = layer_forward(layers[static_cast<size_t>(i - 1)], state);
    keep(i, state);
  }
  return selected;
}

void ClipVisionTower::visit(const std::string& prefix, const ParamVisitor& visitor) {
  visit_full(visitor, join_name(prefix, "embeddings.class_embedding"), class_embedding);
  visit_full(visitor, join_name(prefix, "embeddings.patch_embedding.weight"), patch_embedding);
  visit_full(visitor, join_name(prefix, "embeddings.position_embedding.weight"), position_embedding);
  pre_layrnorm.visit(join_name(prefix, "pre_layrnorm"), visitor);
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = join_name(prefix, "encoder.layers." + std::to_string(i));
    ClipEncoderLayer& layer = layers[i];
    layer.k_proj.visit(p + ".self_attn.k_proj", visitor);
    layer.v_proj.visit(p + ".self_attn.v_proj", visitor);
    layer.q_proj.visit(p + ".self_attn.q_proj", visitor);
    layer.out_proj.visit(p + ".self_attn.out_proj", visitor);
    layer.layer_norm1.visit(p + ".layer_norm1", visitor);
    layer.fc1.visit(p + ".mlp.fc1", visitor);
    layer.fc2.visit(p + ".mlp.fc2", visitor);
    layer.layer_norm2.visit(p + ".layer_norm2", visitor);
  }
  post_layernorm.visit(join_name(prefix, "post_layernorm"), visitor);
}

}  // namespace mha2mla

#include "model/vlm/llava_encoder.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "model/layers/mlp.h"
#include "model/model.h"

namespace mha2mla {

LlavaEncoder::LlavaEncoder(const hf::HfConfig& config, const at::TensorOptions& options)
    : tower(*config.clip_vision, options),
      next_(config.model_type == hf::ModelType::kLlavaNext),
      fields_(config.llava) {
  const auto& vision = *config.clip_vision;
  const int64_t layers = static_cast<int64_t>(fields_.vision_feature_layers.size());
  const int64_t text_hidden = config.text.hidden_size;
  linear_1 = Linear(vision.hidden_size * layers, text_hidden, fields_.multimodal_projector_bias, options);
  linear_2 = Linear(text_hidden, text_hidden, fields_.multimodal_projector_bias, options);
  if (fields_.vision_feature_select_strategy != "default" && fields_.vision_feature_select_strategy != "full")
    fail("{}: vision_feature_select_strategy '{}' is not supported (expected default or full)", config.source,
         fields_.vision_feature_select_strategy);
  if (next_) {
    if (fields_.vision_feature_select_strategy != "default")
      fail("{}: llava_next packs tiles of {}x{} features, which needs vision_feature_select_strategy 'default' "
           "(transformers cannot pack 'full' either)",
           config.source, vision.patches_per_side(), vision.patches_per_side());
    image_newline = at::zeros({text_hidden}, options);
    for (const auto& pinpoint : fields_.image_grid_pinpoints)
      anyres_.pinpoints.push_back({pinpoint.at(0), pinpoint.at(1)});
    anyres_.tile_size = vision.image_size;
    anyres_.patches_per_side = vision.patches_per_side();
  }
}

at::Tensor LlavaEncoder::tile_features(const at::Tensor& pixel_values) const {
  std::vector<at::Tensor> states = tower.hidden_states(pixel_values, fields_.vision_feature_layers);
  if (fields_.vision_feature_select_strategy == "default")
    for (auto& state : states) state = state.narrow(1, 1, state.size(1) - 1);  // drop CLS
  at::Tensor selected = states.size() == 1 ? states[0] : at::cat(states, -1);
  return linear_2.forward(apply_activation(linear_1.forward(selected), fields_.projector_hidden_act));
}

std::vector<at::Tensor> LlavaEncoder::encode(const MultimodalBatch& batch) const {
  const size_t images = batch.pixel_values.size();
  std::vector<at::Tensor> features;
  if (images == 0) return features;
  const int64_t size = tower.config().image_size;
  if (!next_) {
    std::vector<at::Tensor> stacked;
    for (size_t i = 0; i < images; ++i) {
      at::Tensor p = batch.pixel_values[i];
      if (p.dim() == 4 && p.size(0) == 1) p = p[0];
      if (p.dim() != 3 || p.size(1) != size || p.size(2) != size)
        fail("llava image {}: pixel_values of shape [{}], expected [3, {}, {}] (vision_config image_size)", i,
             fmt::join(p.sizes(), ", "), size, size);
      stacked.push_back(p);
    }
    at::Tensor all = tile_features(at::stack(stacked).to(linear_1.weight.device()));
    for (size_t i = 0; i < images; ++i) features.push_back(all[static_cast<int64_t>(i)]);
    return features;
  }
  if (batch.image_sizes.size() != images)
    fail("llava_next: {} images but {} image_sizes; every image needs its original (height, width)", images,
         batch.image_sizes.size());
  std::vector<at::Tensor> tiles;
  std::vector<int64_t> tile_counts;
  for (size_t i = 0; i < images; ++i) {
    const at::Tensor& p = batch.pixel_values[i];
    const image::ImageSize original{batch.image_sizes[i].first, batch.image_sizes[i].second};
    const int64_t expected = anyres_tile_count(original, anyres_);
    if (p.dim() != 4 || p.size(0) != expected || p.size(2) != size || p.size(3) != size)
      fail("llava_next image {}: pixel_values of shape [{}], expected [{}, 3, {}, {}] (the base image plus the AnyRes "
           "tiles of a {}x{} image)",
           i, fmt::join(p.sizes(), ", "), expected, size, size, original.height, original.width);
    tiles.push_back(p);
    tile_counts.push_back(expected);
  }
  at::Tensor all = tile_features(at::cat(tiles, 0).to(linear_1.weight.device()));
  int64_t offset = 0;
  for (size_t i = 0; i < images; ++i) {
    const image::ImageSize original{batch.image_sizes[i].first, batch.image_sizes[i].second};
    features.push_back(pack_anyres_features(all.narrow(0, offset, tile_counts[i]), original, anyres_, image_newline,
                                            static_cast<int64_t>(i)));
    offset += tile_counts[i];
  }
  return features;
}

void LlavaEncoder::visit(const ParamVisitor& visitor) {
  tower.visit("vision", visitor);
  linear_1.visit("projector.linear_1", visitor);
  linear_2.visit("projector.linear_2", visitor);
  if (next_) visit_full(visitor, "image_newline", image_newline);
}

}  // namespace mha2mla

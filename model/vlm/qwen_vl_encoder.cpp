#include "model/vlm/qwen_vl_encoder.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "model/model.h"

namespace mha2mla {

QwenVlEncoder::QwenVlEncoder(const hf::HfConfig& config, const at::TensorOptions& options)
    : tower(*config.qwen_vision, options) {
  if (config.qwen_vision->out_hidden_size != config.text.hidden_size)
    fail("{}: vision_config out_hidden_size {} differs from the language model's hidden_size {}", config.source,
         config.qwen_vision->out_hidden_size, config.text.hidden_size);
}

std::vector<at::Tensor> QwenVlEncoder::encode(const MultimodalBatch& batch) const {
  const size_t images = batch.pixel_values.size();
  std::vector<at::Tensor> features;
  if (images == 0) return features;
  if (batch.image_grid_thw.size() != images)
    fail("Qwen-VL batch: {} images but {} image_grid_thw entries; every image needs its (t, h, w) patch grid", images,
         batch.image_grid_thw.size());
  std::vector<PatchGrid> grids;
  std::vector<int64_t> tokens;
  const int64_t unit = tower.config().spatial_merge_size * tower.config().spatial_merge_size;
  for (size_t i = 0; i < images; ++i) {
    const auto& g = batch.image_grid_thw[i];
    if (g.size() != 3) fail("image {}: image_grid_thw has {} values, expected (t, h, w)", i, g.size());
    grids.push_back({g[0], g[1], g[2]});
    if (batch.pixel_values[i].dim() != 2 || batch.pixel_values[i].size(0) != g[0] * g[1] * g[2])
      fail("image {}: pixel_values of shape [{}] for grid ({}, {}, {}): expected {} patch rows", i,
           fmt::join(batch.pixel_values[i].sizes(), ", "), g[0], g[1], g[2], g[0] * g[1] * g[2]);
    tokens.push_back(g[0] * g[1] * g[2] / unit);
  }
  at::Tensor merged = tower.forward(at::cat(batch.pixel_values, 0), grids);
  int64_t offset = 0;
  for (int64_t n : tokens) {
    features.push_back(merged.narrow(0, offset, n));
    offset += n;
  }
  return features;
}

void QwenVlEncoder::visit(const ParamVisitor& visitor) { tower.visit("vision", visitor); }

}  // namespace mha2mla

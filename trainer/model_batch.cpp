#include "trainer/model_batch.h"

#include <ATen/ATen.h>

namespace mha2mla {

MultimodalBatch to_model_batch(const data::Batch& batch, const at::Device& device) {
  MultimodalBatch out;
  out.input_ids = batch.input_ids.to(device);
  out.attention_mask = batch.attention_mask.to(device);
  if (batch.segments.defined()) out.segments = batch.segments.to(device);
  for (const auto& pixels : batch.pixel_values) out.pixel_values.push_back(pixels.to(device));
  out.image_grid_thw = batch.image_grid_thw;
  out.image_sizes = batch.image_sizes;
  return out;
}

}  // namespace mha2mla

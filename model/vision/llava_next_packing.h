// LLaVA-NeXT's "spatial_unpad" packing of one image's projected features (transformers'
// LlavaNextModel.pack_image_features with unpad_image): the base tile's features first, then the high-resolution
// tiles laid out as one feature map, cropped back to the image's aspect ratio (the rows or columns that only
// covered the processor's padding are dropped), with the image_newline vector closing every row.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/image/processor_geometry.h"

namespace mha2mla {

struct AnyresLayout {
  std::vector<image::ImageSize> pinpoints;  // image_grid_pinpoints (height, width)
  int64_t tile_size = 336;                  // vision_config.image_size: the side of every tile
  int64_t patches_per_side = 24;            // image_size / patch_size: features per tile side
};

// The number of tiles (base included) the processor makes for an image of `original` size.
int64_t anyres_tile_count(image::ImageSize original, const AnyresLayout& layout);

// features [tiles, patches_per_side^2, hidden] (CLS already dropped) -> [packed tokens, hidden];
// image_newline [hidden]. `image_index` names the image in errors.
at::Tensor pack_anyres_features(const at::Tensor& features, image::ImageSize original, const AnyresLayout& layout,
                                const at::Tensor& image_newline, int64_t image_index);

}  // namespace mha2mla

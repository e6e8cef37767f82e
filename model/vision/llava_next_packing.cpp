#include "model/vision/llava_next_packing.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {
namespace {

// unpad_image on a [hidden, rows, columns] feature map: keep the centre band that the original aspect ratio
// fills, with the same float arithmetic (and round(x, 7)) as transformers.
at::Tensor unpad(const at::Tensor& map, image::ImageSize original) {
  const int64_t rows = map.size(1), columns = map.size(2);
  const double original_aspect = static_cast<double>(original.width) / static_cast<double>(original.height);
  const double current_aspect = static_cast<double>(columns) / static_cast<double>(rows);
  if (original_aspect > current_aspect) {
    const double scale = static_cast<double>(columns) / static_cast<double>(original.width);
    const auto kept = static_cast<int64_t>(image::python_round_7(static_cast<double>(original.height) * scale));
    const int64_t padding = (rows - kept) / 2;
    return map.narrow(1, padding, rows - 2 * padding);
  }
  const double scale = static_cast<double>(rows) / static_cast<double>(original.height);
  const auto kept = static_cast<int64_t>(image::python_round_7(static_cast<double>(original.width) * scale));
  const int64_t padding = (columns - kept) / 2;
  return map.narrow(2, padding, columns - 2 * padding);
}

}  // namespace

int64_t anyres_tile_count(image::ImageSize original, const AnyresLayout& layout) {
  auto [rows, columns] = image::anyres_grid_shape(original, layout.pinpoints, layout.tile_size);
  return rows * columns + 1;
}

at::Tensor pack_anyres_features(const at::Tensor& features, image::ImageSize original, const AnyresLayout& layout,
                                const at::Tensor& image_newline, int64_t image_index) {
  const int64_t side = layout.patches_per_side, hidden = features.size(-1);
  if (features.size(1) != side * side)
    fail("LLaVA-NeXT image {}: {} features per tile, expected {} ({}x{} patches; vision_feature_select_strategy "
         "'full' cannot be packed)",
         image_index, features.size(1), side * side, side, side);
  at::Tensor newline = image_newline.to(features.scalar_type());
  if (features.size(0) == 1) return at::cat({features[0], newline.view({1, hidden})}, 0);
  auto [tile_rows, tile_columns] = image::anyres_grid_shape(original, layout.pinpoints, layout.tile_size);
  if (features.size(0) != tile_rows * tile_columns + 1)
    fail("LLaVA-NeXT image {}: {} tiles given, but an image of {}x{} (height x width) is cut into {}x{} tiles plus "
         "the base image; preprocess it with this model's image_grid_pinpoints and crop size {}",
         image_index, features.size(0), original.height, original.width, tile_rows, tile_columns, layout.tile_size);
  // [tile_rows, tile_columns, side, side, hidden] -> [hidden, tile_rows * side, tile_columns * side]
  at::Tensor map = features.narrow(0, 1, tile_rows * tile_columns)
                       .view({tile_rows, tile_columns, side, side, hidden})
                       .permute({4, 0, 2, 1, 3})
                       .reshape({hidden, tile_rows * side, tile_columns * side});
  map = unpad(map, original);
  const int64_t rows = map.size(1), columns = map.size(2);
  at::Tensor with_newlines = at::cat({map, newline.view({hidden, 1, 1}).expand({hidden, rows, 1})}, 2);
  at::Tensor tokens = with_newlines.reshape({hidden, rows * (columns + 1)}).transpose(0, 1);
  return at::cat({features[0], tokens}, 0);
}

}  // namespace mha2mla

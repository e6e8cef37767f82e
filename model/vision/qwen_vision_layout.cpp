#include "model/vision/qwen_vision_layout.h"

#include <algorithm>

#include "common/error.h"

namespace mha2mla {

std::vector<std::array<int64_t, 2>> vision_patch_rows_columns(const std::vector<PatchGrid>& grids, int64_t merge) {
  std::vector<std::array<int64_t, 2>> positions;
  for (const PatchGrid& grid : grids) {
    const int64_t t = grid[0], h = grid[1], w = grid[2];
    MHA2MLA_CHECK(h % merge == 0 && w % merge == 0, "patch grid {}x{} is not a multiple of merge size {}", h, w, merge);
    for (int64_t frame = 0; frame < t; ++frame)
      for (int64_t block_row = 0; block_row < h / merge; ++block_row)
        for (int64_t block_col = 0; block_col < w / merge; ++block_col)
          for (int64_t dy = 0; dy < merge; ++dy)
            for (int64_t dx = 0; dx < merge; ++dx)
              positions.push_back({block_row * merge + dy, block_col * merge + dx});
  }
  return positions;
}

std::vector<int64_t> frame_boundaries(const std::vector<PatchGrid>& grids) {
  std::vector<int64_t> boundaries = {0};
  for (const PatchGrid& grid : grids)
    for (int64_t frame = 0; frame < grid[0]; ++frame) boundaries.push_back(boundaries.back() + grid[1] * grid[2]);
  return boundaries;
}

WindowLayout vision_window_layout(const std::vector<PatchGrid>& grids, int64_t window_size, int64_t merge,
                                  int64_t patch_size) {
  const int64_t blocks_per_window = window_size / merge / patch_size;  // per side
  if (blocks_per_window <= 0)
    fail("vision_config window_size {} is smaller than one merge block ({} px = spatial_merge_size {} x patch_size {})",
         window_size, merge * patch_size, merge, patch_size);
  const int64_t block_patches = merge * merge;
  WindowLayout layout;
  layout.boundaries = {0};
  int64_t first_block = 0;  // index of this image's first merge block
  for (const PatchGrid& grid : grids) {
    const int64_t t = grid[0], rows = grid[1] / merge, cols = grid[2] / merge;
    // transformers pads each side up to a multiple of the window, adding a whole window when the side is already
    // a multiple; such windows are empty and only repeat a boundary.
    const int64_t windows_down = (rows + blocks_per_window - rows % blocks_per_window) / blocks_per_window;
    const int64_t windows_across = (cols + blocks_per_window - cols % blocks_per_window) / blocks_per_window;
    for (int64_t frame = 0; frame < t; ++frame)
      for (int64_t wy = 0; wy < windows_down; ++wy)
        for (int64_t wx = 0; wx < windows_across; ++wx) {
          int64_t blocks = 0;
          for (int64_t y = wy * blocks_per_window; y < std::min(rows, (wy + 1) * blocks_per_window); ++y)
            for (int64_t x = wx * blocks_per_window; x < std::min(cols, (wx + 1) * blocks_per_window); ++x) {
              layout.block_order.push_back(first_block + (frame * rows + y) * cols + x);
              ++blocks;
            }
          if (blocks > 0) layout.boundaries.push_back(layout.boundaries.back() + blocks * block_patches);
        }
    first_block += t * rows * cols;
  }
  return layout;
}

}  // namespace mha2mla

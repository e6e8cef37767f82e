// Where each patch of the Qwen2(.5)-VL vision transformer sits and which patches attend together, computed
// from the images' (t, h, w) patch grids in plain integers (no tensors), as transformers'
// Qwen2_5_VisionTransformerPretrainedModel.rot_pos_emb / get_window_index and the cu_seqlens of its forward.
//
// Patches arrive in the image processor's order: merge block by merge block (each spatial_merge_size^2 patches
// that the merger fuses are consecutive), frame after frame. Window attention reorders the merge blocks so that
// each window's blocks are consecutive; the merger output is put back in the original order afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace mha2mla {

using PatchGrid = std::array<int64_t, 3>;  // (t, h, w) in patches, h and w multiples of spatial_merge_size

// The (row, column) of every patch inside its frame, in processor order: [patches] pairs.
std::vector<std::array<int64_t, 2>> vision_patch_rows_columns(const std::vector<PatchGrid>& grids, int64_t merge_size);

// Segment boundaries (0, ..., patches) of full attention: one segment per frame of every image.
std::vector<int64_t> frame_boundaries(const std::vector<PatchGrid>& grids);

struct WindowLayout {
  std::vector<int64_t> block_order;  // merge-block index (processor order) at each position of the window order
  std::vector<int64_t> boundaries;   // patch boundaries (0, ..., patches) of the windows, in window order
};

// Qwen2.5-VL windows of window_size pixels: window_size / merge_size / patch_size merge blocks per side, laid
// out from the top-left of each frame; edge windows hold what is left. Boundaries repeat no value (empty
// windows dropped, as torch.unique_consecutive does in transformers).
WindowLayout vision_window_layout(const std::vector<PatchGrid>& grids, int64_t window_size, int64_t merge_size,
                                  int64_t patch_size);

}  // namespace mha2mla

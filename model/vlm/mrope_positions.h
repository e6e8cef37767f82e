// Qwen2(.5)-VL's 3-D rotary positions (transformers' Qwen2_5_VLModel.get_rope_index): text tokens advance all
// three axes together; an image or video run starts where the text before it ends and spreads its tokens over
// (t, h, w) = (temporal index, merged row, merged column); the text after it resumes at the largest position
// used so far plus one. Positions are computed per sequence (per packed sample when segments are given) over
// the real tokens only; padding gets 1, as transformers does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/vision/qwen_vision_layout.h"

namespace mha2mla {

struct MropeTokens {
  int64_t image_token_id = 151655;
  int64_t video_token_id = 151656;
  int64_t vision_start_token_id = 151652;
  int64_t spatial_merge_size = 2;
  // Qwen2.5-VL: a video frame's temporal index is int(frame * second_per_grid_t * tokens_per_second) (images use
  // 0). Qwen2-VL (scale_video_time false): the frame number.
  bool scale_video_time = true;
  int64_t tokens_per_second = 2;
};

struct VisualGrids {
  std::vector<PatchGrid> images;             // image_grid_thw, in the order the images appear in the batch
  std::vector<PatchGrid> videos;             // video_grid_thw
  std::vector<double> seconds_per_grid;      // second_per_grid_ts per video (empty: 1.0 each)
};

// Positions [3][n] of one sequence of real tokens. Images and videos are taken from `grids` starting at the
// cursors, which advance. `where` names the sequence in errors (a run of placeholders shorter or longer than its
// grid, more runs than grids).
std::array<std::vector<int64_t>, 3> mrope_positions(const std::vector<int64_t>& ids, const MropeTokens& tokens,
                                                    const VisualGrids& grids, size_t& image_cursor,
                                                    size_t& video_cursor, const std::string& where);

struct MropeIndex {
  at::Tensor positions;    // int64 [3, B, T]
  at::Tensor rope_deltas;  // int64 [B, 1]: max position + 1 - T per row (the offset of decoded tokens' positions)
};

// The batch version: input_ids [B, T], attention_mask [B, T] (undefined = all real), segments [B, T] (undefined =
// one sample per row). Grids are consumed row by row, left to right. Fails when grids are left over.
MropeIndex mrope_position_ids(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& segments,
                              const MropeTokens& tokens, const VisualGrids& grids);

}  // namespace mha2mla

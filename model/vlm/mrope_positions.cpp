#include "model/vlm/mrope_positions.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"

namespace mha2mla {
namespace {

// Index of the first `id` at or after `from`, or -1.
int64_t find_from(const std::vector<int64_t>& ids, int64_t id, int64_t from) {
  auto it = std::find(ids.begin() + from, ids.end(), id);
  return it == ids.end() ? -1 : static_cast<int64_t>(it - ids.begin());
}

}  // namespace

std::array<std::vector<int64_t>, 3> mrope_positions(const std::vector<int64_t>& ids, const MropeTokens& tokens,
                                                    const VisualGrids& grids, size_t& image_cursor,
                                                    size_t& video_cursor, const std::string& where) {
  const auto n = static_cast<int64_t>(ids.size());
  // transformers counts a visual item for every <|vision_start|> directly followed by an image or video pad.
  int64_t images_left = 0, videos_left = 0;
  for (int64_t i = 0; i + 1 < n; ++i) {
    if (ids[static_cast<size_t>(i)] != tokens.vision_start_token_id) continue;
    images_left += ids[static_cast<size_t>(i + 1)] == tokens.image_token_id;
    videos_left += ids[static_cast<size_t>(i + 1)] == tokens.video_token_id;
  }
  std::array<std::vector<int64_t>, 3> positions;
  for (auto& axis : positions) axis.reserve(ids.size());
  auto push_text = [&](int64_t start, int64_t count) {
    for (int64_t j = 0; j < count; ++j)
      for (auto& axis : positions) axis.push_back(start + j);
  };

  int64_t st = 0;          // next token to place
  int64_t next_start = 0;  // largest position of the last visual item + 1 (0 before any)
  const int64_t items = images_left + videos_left;
  for (int64_t item = 0; item < items; ++item) {
    const int64_t ed_image = images_left > 0 ? find_from(ids, tokens.image_token_id, st) : n + 1;
    const int64_t ed_video = videos_left > 0 ? find_from(ids, tokens.video_token_id, st) : n + 1;
    if (ed_image < 0 || ed_video < 0)
      fail("{}: a <|vision_start|> announces an image or video whose pad tokens come before the previous item ends "
           "(its placeholder run is too short or misplaced)",
           where);
    const bool is_image = ed_image < ed_video;
    const std::vector<PatchGrid>& list = is_image ? grids.images : grids.videos;
    size_t& cursor = is_image ? image_cursor : video_cursor;
    if (cursor >= list.size())
      fail("{}: the text holds more {} than the batch has {} grids ({})", where, is_image ? "images" : "videos",
           is_image ? "image" : "video", list.size());
    const PatchGrid grid = list[cursor];
    double seconds_per_grid = 0.0;  // images: every frame at temporal index 0 (Qwen2.5-VL)
    if (!is_image) seconds_per_grid = cursor < grids.seconds_per_grid.size() ? grids.seconds_per_grid[cursor] : 1.0;
    const int64_t item_index = static_cast<int64_t>(cursor);
    ++cursor;
    (is_image ? images_left : videos_left) -= 1;

    const int64_t ed = is_image ? ed_image : ed_video;
    const int64_t t = grid[0], h = grid[1] / tokens.spatial_merge_size, w = grid[2] / tokens.spatial_merge_size;
    const int64_t count = t * h * w;
    const int64_t pad = is_image ? tokens.image_token_id : tokens.video_token_id;
    int64_t run = 0;
    while (ed + run < n && ids[static_cast<size_t>(ed + run)] == pad) ++run;
    if (run != count)
      fail("{}: {} {} has grid ({}, {}, {}), which needs {} {} tokens, but the run at token {} has {}", where,
           is_image ? "image" : "video", item_index, grid[0], grid[1], grid[2], count,
           is_image ? "<|image_pad|>" : "<|video_pad|>", ed, run);

    push_text(next_start, ed - st);
    const int64_t base = next_start + (ed - st);
    int64_t largest = base;
    for (int64_t frame = 0; frame < t; ++frame) {
      int64_t temporal = frame;
      if (tokens.scale_video_time) {
        // transformers: (frame * second_per_grid_t * tokens_per_second) in float32, then .long() (truncation).
        const float time = static_cast<float>(frame) * static_cast<float>(seconds_per_grid) *
                           static_cast<float>(tokens.tokens_per_second);
        temporal = static_cast<int64_t>(time);
      }
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          positions[0].push_back(base + temporal);
          positions[1].push_back(base + y);
          positions[2].push_back(base + x);
          largest = std::max({largest, base + temporal, base + y, base + x});
        }
    }
    next_start = largest + 1;
    st = ed + count;
  }
  if (st < n) push_text(next_start, n - st);
  return positions;
}

MropeIndex mrope_position_ids(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& segments,
                              const MropeTokens& tokens, const VisualGrids& grids) {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  at::Tensor ids = input_ids.to(at::kCPU, at::kLong).contiguous();
  at::Tensor mask = attention_mask.defined() ? attention_mask.to(at::kCPU, at::kLong).contiguous()
                                             : at::ones({B, T}, at::kLong);
  at::Tensor seg = segments.defined() ? segments.to(at::kCPU, at::kLong).contiguous() : at::zeros({B, T}, at::kLong);
  at::Tensor positions = at::ones({3, B, T}, at::kLong);
  at::Tensor deltas = at::zeros({B, 1}, at::kLong);
  const int64_t* id = ids.data_ptr<int64_t>();
  const int64_t* valid = mask.data_ptr<int64_t>();
  const int64_t* sample = seg.data_ptr<int64_t>();
  int64_t* out = positions.data_ptr<int64_t>();
  int64_t* delta = deltas.data_ptr<int64_t>();
  size_t image_cursor = 0, video_cursor = 0;
  for (int64_t b = 0; b < B; ++b) {
    // Real tokens of the row, cut where the packed-sample id changes.
    std::vector<std::vector<int64_t>> groups;
    int64_t previous_sample = 0;
    for (int64_t i = 0; i < T; ++i) {
      if (valid[b * T + i] == 0) continue;
      if (groups.empty() || sample[b * T + i] != previous_sample) groups.emplace_back();
      previous_sample = sample[b * T + i];
      groups.back().push_back(i);
    }
    int64_t largest = -1;
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<int64_t> group_ids;
      for (int64_t i : groups[g]) group_ids.push_back(id[b * T + i]);
      const std::string where = segments.defined() ? fmt::format("row {}, packed sample {}", b, g) : fmt::format("row {}", b);
      auto p = mrope_positions(group_ids, tokens, grids, image_cursor, video_cursor, where);
      for (size_t j = 0; j < groups[g].size(); ++j)
        for (int64_t axis = 0; axis < 3; ++axis) {
          const int64_t value = p[static_cast<size_t>(axis)][j];
          out[(axis * B + b) * T + groups[g][j]] = value;
          largest = std::max(largest, value);
        }
    }
    delta[b] = groups.empty() ? 0 : largest + 1 - T;
  }
  if (image_cursor != grids.images.size() || video_cursor != grids.videos.size())
    fail("the batch has {} image grid(s) and {} video grid(s), but its text places only {} image(s) and {} video(s) "
         "(each needs <|vision_start|> followed by its pad tokens)",
         grids.images.size(), grids.videos.size(), image_cursor, video_cursor);
  return {positions.to(input_ids.device()), deltas.to(input_ids.device())};
}

}  // namespace mha2mla

// The Qwen ViT's patch layout against hand-worked grids: rows/columns in merge-block order, frame boundaries,
// window order and window boundaries (edge windows, empty padding windows, several images); and segmented
// attention against one attention per segment.
#include <ATen/ATen.h>

#include "model/vision/qwen_vision_layout.h"
#include "model/vision/vision_attention.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

TEST(VlmLayout, PatchesComeInMergeBlockOrder) {
  // A 2x4 patch grid with merge 2: block (0,0) holds (0,0) (0,1) (1,0) (1,1), then block (0,1).
  auto rc = vision_patch_rows_columns({{1, 2, 4}}, 2);
  const std::vector<std::array<int64_t, 2>> expected = {{0, 0}, {0, 1}, {1, 0}, {1, 1},
                                                        {0, 2}, {0, 3}, {1, 2}, {1, 3}};
  EXPECT_EQ(rc, expected);
  // Two frames repeat the frame's layout.
  EXPECT_EQ(vision_patch_rows_columns({{2, 2, 2}}, 2).size(), 8u);
  EXPECT_EQ(frame_boundaries({{2, 2, 4}, {1, 4, 4}}), (std::vector<int64_t>{0, 8, 16, 32}));
}

TEST(VlmLayout, WindowsCutAtTheEdgesAndSkipPaddingWindows) {
  // 56-px windows of 14-px patches merged 2x2: 2x2 merge blocks per window. A 6x10 patch grid has 3x5 blocks:
  // windows (rows 0-1 | 2) x (columns 0-1 | 2-3 | 4), row-major, blocks inside each window row-major.
  WindowLayout layout = vision_window_layout({{1, 6, 10}}, 56, 2, 14);
  EXPECT_EQ(layout.block_order, (std::vector<int64_t>{0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 10, 11, 12, 13, 14}));
  EXPECT_EQ(layout.boundaries, (std::vector<int64_t>{0, 16, 32, 40, 48, 56, 60}));
  // 4x4 blocks: transformers pads a whole extra window row and column; they are empty and add no boundary.
  layout = vision_window_layout({{1, 8, 8}}, 56, 2, 14);
  EXPECT_EQ(layout.block_order, (std::vector<int64_t>{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}));
  EXPECT_EQ(layout.boundaries, (std::vector<int64_t>{0, 16, 32, 48, 64}));
  // Two images (the second one 2 frames of 1x1 blocks): block indices continue, each frame has its own window.
  layout = vision_window_layout({{1, 2, 4}, {2, 2, 2}}, 56, 2, 14);
  EXPECT_EQ(layout.block_order, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(layout.boundaries, (std::vector<int64_t>{0, 8, 12, 16}));
}

TEST(VlmLayout, SegmentedAttentionEqualsOneAttentionPerSegment) {
  at::manual_seed(3);
  const int64_t S = 23, H = 2, d = 8;
  at::Tensor q = at::randn({S, H, d}), k = at::randn({S, H, d}), v = at::randn({S, H, d});
  for (const std::vector<int64_t>& bounds :
       {std::vector<int64_t>{0, 23}, std::vector<int64_t>{0, 4, 4, 8, 15, 19, 23}, std::vector<int64_t>{0, 1, 23}}) {
    at::Tensor got = segmented_attention(q, k, v, bounds, 0.3);
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      const int64_t start = bounds[i], length = bounds[i + 1] - bounds[i];
      if (length == 0) continue;
      auto part = [&](const at::Tensor& x) { return x.narrow(0, start, length).transpose(0, 1); };  // [H, L, d]
      at::Tensor expected = at::softmax(at::matmul(part(q), part(k).transpose(1, 2)) * 0.3, -1).matmul(part(v));
      EXPECT_TRUE(at::allclose(got.narrow(0, start, length), expected.transpose(0, 1), 1e-5, 1e-6))
          << "segment " << i;
    }
  }
}

TEST(VlmLayout, LongSequencesAttendInQueryBlocksWithTheSameResult) {
  // 2 heads x 1100^2 scores exceed the 2^21-element block: the queries run in two blocks.
  at::manual_seed(4);
  const int64_t S = 1100, H = 2, d = 8;
  at::Tensor q = at::randn({1, H, S, d}), k = at::randn({1, H, S, d}), v = at::randn({1, H, S, d});
  at::Tensor expected = at::softmax(at::matmul(q, k.transpose(-2, -1)) * 0.25, -1).matmul(v);
  EXPECT_TRUE(at::allclose(bidirectional_attention(q, k, v, 0.25), expected, 1e-5, 1e-6));
}

}  // namespace
}  // namespace mha2mla

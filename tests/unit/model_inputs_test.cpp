// Positions of packed and padded batches.
#include <ATen/ATen.h>

#include "model/model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

TEST(ModelInputs, PositionsRestartAtEveryPackedSampleAndSkipPadding) {
  at::Tensor segments = at::tensor({0, 0, 0, 1, 1, 2, 2, 2, 2, 2}, at::kLong).view({1, 10});
  at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({1, 10});
  at::Tensor positions = positions_per_segment(mask, segments, 1, 10, at::kCPU);
  EXPECT_TRUE(at::equal(positions, at::tensor({0, 1, 2, 0, 1, 0, 1, 2, 1, 1}, at::kLong).view({1, 10}))) << positions;
}

TEST(ModelInputs, LeftPaddingStartsAtZeroAtTheFirstToken) {
  at::Tensor mask = at::tensor({0, 0, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 4});
  at::Tensor positions = positions_per_segment(mask, at::Tensor(), 2, 4, at::kCPU);
  EXPECT_TRUE(at::equal(positions, at::tensor({1, 1, 0, 1, 0, 1, 2, 3}, at::kLong).view({2, 4}))) << positions;
}

}  // namespace
}  // namespace mha2mla

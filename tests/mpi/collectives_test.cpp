// Every collective of the MPI communicator, on every dtype, against closed forms: each rank contributes a
// tensor that depends on its rank, so the expected sum, max, gather or broadcast is a formula in the ranks.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla::dist {
namespace {

using mpi_test::world;

const std::vector<at::ScalarType> kNumericTypes = {at::kFloat, at::kDouble, at::kHalf,  at::kBFloat16, at::kChar,
                                                   at::kByte,  at::kShort,  at::kInt,   at::kLong};
const std::vector<at::ScalarType> kFloatingTypes = {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16};

// x_r[i] = i + 3 r: small integers, exact in every dtype (the largest sum below is 2 * (9 + 3) = 24).
at::Tensor rank_ramp(int64_t n, int rank, at::ScalarType type) {
  return (at::arange(n, at::kDouble) + 3.0 * rank).to(type);
}

TEST(MpiCollectives, RunsOnMoreThanOneRank) {
  EXPECT_GE(world().size(), 2) << "run this binary under mpiexec -n 2 (or srun --mpi=pmix -n 2)";
  EXPECT_EQ(world().backend(), "mpi");
}

TEST(MpiCollectives, AllReduceSumEveryDtype) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : kNumericTypes) {
    at::Tensor x = rank_ramp(10, rank, type);
    world().all_reduce(x, ReduceOp::sum);
    // sum_r (i + 3 r) = size i + 3 size (size - 1) / 2
    at::Tensor expected = (at::arange(10, at::kDouble) * size + 1.5 * size * (size - 1)).to(type);
    EXPECT_EQ(x.scalar_type(), type);
    EXPECT_TRUE(at::equal(x, expected)) << c10::toString(type) << ": " << x;
  }
}

TEST(MpiCollectives, AllReduceMaxEveryDtype) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : kNumericTypes) {
    // x_r[i] = (7 i + 5 r) mod 11: which rank holds the maximum differs from element to element.
    at::Tensor x = ((at::arange(10, at::kLong) * 7 + 5 * rank) % 11).to(type);
    world().all_reduce(x, ReduceOp::max);
    std::vector<double> expected(10, -1);
    for (int r = 0; r < size; ++r)
      for (int i = 0; i < 10; ++i) expected[i] = std::max(expected[i], static_cast<double>((7 * i + 5 * r) % 11));
    EXPECT_TRUE(at::equal(x, at::tensor(expected, at::kDouble).to(type))) << c10::toString(type) << ": " << x;
  }
}

TEST(MpiCollectives, AllReduceAverageFloatingDtypes) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : kFloatingTypes) {
    at::Tensor x = rank_ramp(6, rank, type);
    world().all_reduce(x, ReduceOp::avg);
    at::Tensor expected = (at::arange(6, at::kDouble) + 1.5 * (size - 1)).to(type);  // exact for size 2 and 4
    EXPECT_TRUE(at::equal(x, expected)) << c10::toString(type) << ": " << x;
  }
}

TEST(MpiCollectives, HalfPrecisionSumsRoundOnceFromTheExactSum) {
  // x_r = 1 + r/128 + i/8 is exact in bfloat16 and float16; the sums need more bits than they have. Summing in
  // float32 is exact here, so the result must be the nearest 16-bit value of the exact sum.
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : {at::kBFloat16, at::kHalf}) {
    at::Tensor exact = at::zeros({8}, at::kDouble);
    for (int r = 0; r < size; ++r) exact += at::arange(8, at::kDouble) / 8 + 1.0 + r / 128.0;
    at::Tensor x = (at::arange(8, at::kDouble) / 8 + 1.0 + rank / 128.0).to(type);
    ASSERT_TRUE(at::equal(x.to(at::kDouble), at::arange(8, at::kDouble) / 8 + 1.0 + rank / 128.0));
    world().all_reduce(x, ReduceOp::sum);
    EXPECT_TRUE(at::equal(x, exact.to(at::kFloat).to(type))) << c10::toString(type) << ": " << x;
  }
}

TEST(MpiCollectives, AllReduceBoolIsLogicalOr) {
  const int size = world().size(), rank = world().rank();
  // Rank r sets element r only; element `size` is set nowhere.
  at::Tensor x = at::arange(size + 1, at::kLong).eq(rank);
  world().all_reduce(x, ReduceOp::sum);
  at::Tensor expected = at::arange(size + 1, at::kLong).lt(size);
  EXPECT_TRUE(at::equal(x, expected)) << x;
  EXPECT_THROW(world().all_reduce(x, ReduceOp::avg), Error);
}

TEST(MpiCollectives, AllReduceComplexSum) {
  const int size = world().size(), rank = world().rank();
  at::Tensor x = at::complex(at::full({3}, 1.0 * rank), at::full({3}, 2.0));
  world().all_reduce(x, ReduceOp::sum);
  at::Tensor expected = at::complex(at::full({3}, 0.5 * size * (size - 1)), at::full({3}, 2.0 * size));
  EXPECT_TRUE(at::equal(x, expected)) << x;
}

TEST(MpiCollectives, AllReduceNonContiguousWritesThroughTheView) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : {at::kFloat, at::kBFloat16, at::kLong}) {
    at::Tensor base = rank_ramp(12, rank, type).reshape({3, 4});
    at::Tensor column_view = base.t();  // non-contiguous view of `base`
    ASSERT_FALSE(column_view.is_contiguous());
    world().all_reduce(column_view, ReduceOp::sum);
    at::Tensor expected = (at::arange(12, at::kDouble) * size + 1.5 * size * (size - 1)).to(type).reshape({3, 4});
    EXPECT_TRUE(at::equal(base, expected)) << c10::toString(type) << ": " << base;
  }
  // A strided slice: only the selected elements change.
  at::Tensor base = rank_ramp(12, rank, at::kFloat).reshape({3, 4});
  world().all_reduce(base.select(1, 2), ReduceOp::sum);
  at::Tensor expected = rank_ramp(12, rank, at::kFloat).reshape({3, 4});
  expected.select(1, 2).copy_(
      (at::arange(12, at::kDouble).reshape({3, 4}).select(1, 2) * size + 1.5 * size * (size - 1)).to(at::kFloat));
  EXPECT_TRUE(at::equal(base, expected)) << base;
}

TEST(MpiCollectives, AllReduceRejectsMeaninglessOps) {
  EXPECT_THROW(world().all_reduce(at::ones({2}, at::kInt), ReduceOp::avg), Error);
  EXPECT_THROW(world().all_reduce(at::ones({2}, at::kComplexFloat), ReduceOp::max), Error);
  EXPECT_THROW(world().all_reduce_int(1, ReduceOp::avg), Error);
}

TEST(MpiCollectives, AllGatherConcatenatesInRankOrderEveryDtype) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : kNumericTypes) {
    at::Tensor x = rank_ramp(6, rank, type).reshape({2, 3});
    at::Tensor gathered = world().all_gather(x);
    ASSERT_EQ(gathered.sizes(), at::IntArrayRef({2 * size, 3}));
    for (int r = 0; r < size; ++r)
      EXPECT_TRUE(at::equal(gathered.narrow(0, 2 * r, 2), rank_ramp(6, r, type).reshape({2, 3})))
          << c10::toString(type) << " from rank " << r;
    std::vector<at::Tensor> parts = world().all_gather_list(x);
    ASSERT_EQ(static_cast<int>(parts.size()), size);
    for (int r = 0; r < size; ++r) EXPECT_TRUE(at::equal(parts[r], rank_ramp(6, r, type).reshape({2, 3})));
  }
  at::Tensor scalars = world().all_gather(at::scalar_tensor(static_cast<double>(rank), at::kDouble));
  EXPECT_TRUE(at::equal(scalars, at::arange(size, at::kDouble)));
  at::Tensor transposed = world().all_gather(rank_ramp(6, rank, at::kFloat).reshape({2, 3}).t());
  EXPECT_TRUE(at::equal(transposed.narrow(0, 3 * rank, 3), rank_ramp(6, rank, at::kFloat).reshape({2, 3}).t()));
}

TEST(MpiCollectives, ReduceScatterGivesEachRankItsSliceOfTheSum) {
  const int size = world().size(), rank = world().rank();
  for (at::ScalarType type : kNumericTypes) {
    at::Tensor x = rank_ramp(2 * size * 3, rank, type).reshape({2 * size, 3});
    at::Tensor mine = world().reduce_scatter(x, ReduceOp::sum);
    at::Tensor sum = (at::arange(2 * size * 3, at::kDouble) * size + 1.5 * size * (size - 1)).reshape({2 * size, 3});
    EXPECT_TRUE(at::equal(mine, sum.narrow(0, 2 * rank, 2).to(type))) << c10::toString(type) << ": " << mine;
  }
  at::Tensor averaged = world().reduce_scatter(rank_ramp(size * 2, rank, at::kFloat).reshape({size, 2}), ReduceOp::avg);
  at::Tensor expected = (at::arange(size * 2, at::kDouble) + 1.5 * (size - 1)).reshape({size, 2}).narrow(0, rank, 1);
  EXPECT_TRUE(at::equal(averaged, expected.to(at::kFloat))) << averaged;
  // dim 0 not divisible by the group size: every rank rejects it before communicating.
  EXPECT_THROW(world().reduce_scatter(at::ones({size + 1, 2}), ReduceOp::sum), Error);
}

TEST(MpiCollectives, BroadcastFromEveryRootEveryDtype) {
  const int size = world().size(), rank = world().rank();
  for (int root = 0; root < size; ++root) {
    for (at::ScalarType type : kNumericTypes) {
      at::Tensor x = rank_ramp(5, rank, type);
      world().broadcast(x, root);
      EXPECT_TRUE(at::equal(x, rank_ramp(5, root, type))) << c10::toString(type) << " from root " << root;
    }
  }
  at::Tensor base = rank_ramp(6, rank, at::kFloat).reshape({2, 3});
  world().broadcast(base.t(), size - 1);
  EXPECT_TRUE(at::equal(base, rank_ramp(6, size - 1, at::kFloat).reshape({2, 3})));
  EXPECT_THROW(world().broadcast(base, size), Error);
  // Parameters are broadcast at start-up: leaves that require grad, written in place outside autograd.
  at::Tensor parameter = rank_ramp(6, rank, at::kFloat).reshape({2, 3}).requires_grad_();
  world().broadcast(parameter, 0);
  world().broadcast(parameter.t(), 0);
  EXPECT_TRUE(at::equal(parameter.detach(), rank_ramp(6, 0, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(parameter.requires_grad());
}

TEST(MpiCollectives, ScalarReductions) {
  const int size = world().size(), rank = world().rank();
  EXPECT_EQ(world().all_reduce_double(rank + 0.5, ReduceOp::sum), 0.5 * size * size);
  EXPECT_EQ(world().all_reduce_double(rank + 0.5, ReduceOp::avg), 0.5 * size);
  EXPECT_EQ(world().all_reduce_double(-1.0 * rank, ReduceOp::max), 0.0);
  EXPECT_EQ(world().all_reduce_int(int64_t{1} << 40, ReduceOp::sum), (int64_t{1} << 40) * size);
  EXPECT_EQ(world().all_reduce_int(10 * rank, ReduceOp::max), 10 * (size - 1));
  world().barrier();
}

TEST(MpiCollectives, EmptyTensorsPassThrough) {
  at::Tensor empty = at::empty({0, 4});
  world().all_reduce(empty, ReduceOp::sum);
  EXPECT_EQ(world().all_gather(empty).sizes(), at::IntArrayRef({0, 4}));
  world().broadcast(empty, 0);
}

TEST(MpiCollectives, SplitOrdersByKey) {
  const int size = world().size(), rank = world().rank();
  // One group, keys reversed: new rank = size - 1 - rank.
  auto reversed = world().split(0, size - rank, "reversed");
  EXPECT_EQ(reversed->size(), size);
  EXPECT_EQ(reversed->rank(), size - 1 - rank);
  EXPECT_EQ(reversed->name(), "reversed");
  at::Tensor x = at::full({1}, static_cast<double>(rank), at::kDouble);
  reversed->broadcast(x, 0);  // new rank 0 is old rank size - 1
  EXPECT_EQ(x.item<double>(), size - 1.0);
  // Every rank alone.
  auto alone = world().split(rank, 0);
  EXPECT_EQ(alone->size(), 1);
  at::Tensor y = at::full({2}, 1.0 + rank);
  alone->all_reduce(y, ReduceOp::sum);
  EXPECT_TRUE(at::equal(y, at::full({2}, 1.0 + rank)));
}

}  // namespace
}  // namespace mha2mla::dist

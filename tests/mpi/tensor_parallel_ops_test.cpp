// The tensor-parallel communication operators on two ranks, against closed forms: f (identity forward, summed
// gradient backward), g (summed forward, identity backward), gathering slices into the whole tensor, and summing
// the gradients of slices over the ranks that hold them.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "distributed/grid.h"
#include "distributed/tensor_parallel.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla {
namespace {

using mpi_test::runtime;

TEST(TensorParallelOps, CopyAndReduceFollowTheirRules) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  dist::TensorParallel tp{&grid.tp()};
  const double r = grid.tp_rank();
  // y = g(w_r * f(x)) with w_r = r + 2: forward y = (w_0 + w_1) x = 5x on both ranks; backward through g is the
  // identity (dL/d(w_r f(x)) = dL/dy = 1) and through f the sum over ranks: dL/dx = w_0 + w_1 = 5.
  at::Tensor x = at::arange(1, 7, at::kDouble).reshape({2, 3}).requires_grad_(true);
  at::Tensor f = dist::copy_to_tensor_parallel(x, tp);
  EXPECT_TRUE(at::equal(f, x));
  at::Tensor y = dist::reduce_from_tensor_parallel(f * (r + 2), tp);
  EXPECT_TRUE(at::allclose(y, x.detach() * 5));
  y.sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), at::full({2, 3}, 5.0, at::kDouble)));
  // g alone: its input gradient is the output gradient, not summed again.
  at::Tensor z = at::ones({4}, at::kDouble).requires_grad_(true);
  (dist::reduce_from_tensor_parallel(z, tp) * (r + 1)).sum().backward();
  EXPECT_TRUE(at::allclose(z.grad(), at::full({4}, r + 1, at::kDouble)));
  // Without a group both are identities.
  EXPECT_TRUE(dist::copy_to_tensor_parallel(x, dist::TensorParallel{}).is_same(x));
  EXPECT_TRUE(dist::reduce_from_tensor_parallel(x, dist::TensorParallel{}).is_same(x));
}

TEST(TensorParallelOps, GatherSlicesRebuildsTheWholeTensor) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  const int64_t rank = grid.tp_rank();
  at::Tensor whole = at::arange(24, at::kFloat).reshape({4, 6});
  // Interleaved columns along dim 1: rank 0 holds 0, 2, 4, rank 1 holds 1, 3, 5.
  std::vector<int64_t> columns = {rank, rank + 2, rank + 4};
  at::Tensor slice = whole.index_select(1, at::tensor(columns, at::kLong));
  EXPECT_TRUE(at::equal(dist::gather_slices(slice, 1, columns, 6, grid.tp()), whole));
  // A shared slice (both ranks hold row 1) next to an own one.
  std::vector<int64_t> rows = {1, rank == 0 ? 0 : 2};
  at::Tensor full_rows = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor row_slice = full_rows.index_select(0, at::tensor(rows, at::kLong));
  EXPECT_TRUE(at::equal(dist::gather_slices(row_slice, 0, rows, 3, grid.tp()), full_rows));
}

TEST(TensorParallelOps, SumOverHoldersAddsOnlyWhereRanksShare) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  const int64_t rank = grid.tp_rank();
  // Rank 0 holds rows {0, 1}, rank 1 rows {1, 2}: row 1 is the sum of both ranks' values, the others stay.
  std::vector<int64_t> rows = {rank, rank + 1};
  at::Tensor grad = at::full({2, 3}, static_cast<double>(10 * (rank + 1)), at::kDouble);
  grad[1] += 1;
  dist::sum_over_holders(grad, 0, rows, 3, grid.tp());
  if (rank == 0) {
    EXPECT_TRUE(at::allclose(grad[0], at::full({3}, 10.0, at::kDouble)));   // own row 0
    EXPECT_TRUE(at::allclose(grad[1], at::full({3}, 11.0 + 20.0, at::kDouble)));  // shared row 1: 11 + 20
  } else {
    EXPECT_TRUE(at::allclose(grad[0], at::full({3}, 11.0 + 20.0, at::kDouble)));
    EXPECT_TRUE(at::allclose(grad[1], at::full({3}, 21.0, at::kDouble)));   // own row 2
  }
  // dim < 0: a whole tensor every rank holds, summed.
  at::Tensor whole = at::full({2}, static_cast<double>(rank + 1), at::kDouble);
  dist::sum_over_holders(whole, -1, {}, 0, grid.tp());
  EXPECT_TRUE(at::allclose(whole, at::full({2}, 3.0, at::kDouble)));
}

}  // namespace
}  // namespace mha2mla

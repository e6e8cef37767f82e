// The DP x TP grid's sub-communicators (dp 2 x tp 1 and dp 1 x tp 2 on two ranks, or any grid the world size
// allows) and bucketed data-parallel gradient averaging against per-tensor all-reduce and closed forms.
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "distributed/gradient_sync.h"
#include "distributed/grid.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla::dist {
namespace {

using mpi_test::runtime;
using mpi_test::world;

std::shared_ptr<Communicator> world_ptr() { return runtime().grid().world_ptr(); }

// Checks a grid's groups by what they sum: a TP all_reduce of the world rank adds the ranks
// dp_rank * tp + (0 .. tp-1); a DP all_reduce adds tp_rank + tp * (0 .. dp-1).
void check_grid(int tensor_parallel) {
  const int size = world().size(), rank = world().rank();
  ProcessGrid grid(world_ptr(), tensor_parallel);
  const int tp = tensor_parallel, dp = size / tp;
  EXPECT_EQ(grid.tp().size(), tp);
  EXPECT_EQ(grid.dp().size(), dp);
  EXPECT_EQ(grid.tp_rank(), rank % tp);
  EXPECT_EQ(grid.dp_rank(), rank / tp);

  at::Tensor tp_sum = at::full({3}, static_cast<double>(rank), at::kDouble);
  grid.tp().all_reduce(tp_sum, ReduceOp::sum);
  double first = (rank / tp) * tp;
  EXPECT_EQ(tp_sum[0].item<double>(), tp * first + tp * (tp - 1) / 2.0) << "tp " << tp << " rank " << rank;

  at::Tensor dp_sum = at::full({3}, static_cast<double>(rank), at::kDouble);
  grid.dp().all_reduce(dp_sum, ReduceOp::sum);
  EXPECT_EQ(dp_sum[0].item<double>(), dp * (rank % tp) + tp * dp * (dp - 1) / 2.0) << "tp " << tp << " rank " << rank;

  // A TP all_gather returns the TP group's world ranks in order.
  at::Tensor members = grid.tp().all_gather(at::full({1}, static_cast<int64_t>(rank), at::kLong));
  EXPECT_TRUE(at::equal(members, at::arange(tp, at::kLong) + first));
}

TEST(MpiGrid, DataParallelOnly) { check_grid(1); }

TEST(MpiGrid, TensorParallelOnly) { check_grid(world().size()); }

TEST(MpiGrid, EveryDivisorOfTheWorld) {
  for (int tp = 1; tp <= world().size(); ++tp)
    if (world().size() % tp == 0) check_grid(tp);
}

TEST(MpiGrid, RejectsANonDivisorOnEveryRank) {
  EXPECT_THROW(ProcessGrid(world_ptr(), world().size() + 1), Error);
}

// Parameters of mixed sizes and dtypes; rank r's gradient of parameter p is g_p + r * d_p, with values chosen
// exact in float32 and bfloat16 so that the DP average is the closed form g_p + d_p (size - 1) / 2 (but see 2, 5).
struct Model {
  std::vector<at::Tensor> parameters;
  std::vector<at::Tensor> expected;
};

Model make_model(int rank, int size) {
  Model model;
  const std::vector<std::vector<int64_t>> shapes = {{64, 32}, {32}, {1000}, {16, 16, 4}, {7}, {300, 3}};
  for (size_t p = 0; p < shapes.size(); ++p) {
    at::ScalarType type = p == 4 ? at::kBFloat16 : at::kFloat;
    at::Tensor parameter = at::zeros(shapes[p], at::TensorOptions().dtype(type)).requires_grad_();
    int64_t n = parameter.numel();
    at::Tensor base = ((at::arange(n, at::kDouble) * static_cast<int64_t>(p + 1)).remainder(17) / 4).reshape(shapes[p]);
    at::Tensor delta = ((at::arange(n, at::kDouble) + static_cast<int64_t>(p)).remainder(5) / 2).reshape(shapes[p]);
    // Parameter 2 has a gradient on no rank: it keeps none (the optimizer skips it, as one process would).
    // Parameter 5 has one on rank 0 only: the others contribute zeros, so the average is base / size.
    if (p == 5) {
      if (rank == 0) parameter.mutable_grad() = base.to(type);
      model.expected.push_back((base / size).to(type));
    } else if (p == 2) {
      model.expected.push_back(at::Tensor());
    } else {
      parameter.mutable_grad() = (base + rank * delta).to(type);
      model.expected.push_back((base + delta * ((size - 1) / 2.0)).to(type));
    }
    model.parameters.push_back(parameter);
  }
  // A transposed (non-contiguous) gradient, as autograd produces for some ops.
  model.parameters[0].mutable_grad() = model.parameters[0].grad().t().contiguous().t();
  return model;
}

TEST(MpiGradientSync, BucketedAverageMatchesClosedFormForEveryBucketSize) {
  const int size = world().size(), rank = world().rank();
  ProcessGrid grid(world_ptr(), 1);
  // 1 byte: a bucket per parameter; 0.004 MiB: a few buckets; 100 MiB: one per dtype.
  for (double bucket_mb : {1e-6, 0.004, 100.0}) {
    Model model = make_model(rank, size);
    GradientSynchronizer sync(model.parameters, grid.dp(), bucket_mb);
    sync.synchronize();
    for (size_t p = 0; p < model.parameters.size(); ++p) {
      const at::Tensor& grad = model.parameters[p].grad();
      ASSERT_EQ(grad.defined(), model.expected[p].defined()) << "parameter " << p;
      if (grad.defined()) {
        EXPECT_TRUE(at::equal(grad, model.expected[p]))
            << "parameter " << p << " with buckets of " << bucket_mb << " MiB";
      }
    }
  }
}

TEST(MpiGradientSync, BucketedEqualsPlainAllReduceExactly) {
  // Gradients that are not exact in the average (thirds): bucketing must still give bit-identical results to
  // one all_reduce per tensor, since each element's sum is formed the same way.
  const int size = world().size(), rank = world().rank();
  ProcessGrid grid(world_ptr(), 1);
  auto make = [&](std::vector<at::Tensor>& parameters) {
    parameters.clear();
    for (int64_t n : {100, 3000, 17, 4096}) {
      at::Tensor parameter = at::zeros({n}).requires_grad_();
      parameter.mutable_grad() = at::sin(at::arange(n, at::kFloat) * (rank + 1)) / 3;
      parameters.push_back(parameter);
    }
  };
  std::vector<at::Tensor> plain;
  make(plain);
  for (at::Tensor& parameter : plain) grid.dp().all_reduce(parameter.grad(), ReduceOp::avg);
  for (double bucket_mb : {1e-6, 0.01, 0.02, 100.0}) {
    std::vector<at::Tensor> bucketed;
    make(bucketed);
    GradientSynchronizer sync(bucketed, grid.dp(), bucket_mb);
    sync.synchronize();
    for (size_t p = 0; p < plain.size(); ++p)
      EXPECT_TRUE(at::equal(bucketed[p].grad(), plain[p].grad())) << "parameter " << p << ", " << bucket_mb << " MiB";
  }
  (void)size;
}

TEST(MpiGradientSync, ReusedAcrossSteps) {
  const int size = world().size(), rank = world().rank();
  ProcessGrid grid(world_ptr(), 1);
  std::vector<at::Tensor> parameters = {at::zeros({10}).requires_grad_(), at::zeros({20}).requires_grad_()};
  GradientSynchronizer sync(parameters, grid.dp(), 100.0);
  for (int step = 1; step <= 3; ++step) {
    for (at::Tensor& parameter : parameters) parameter.mutable_grad() = at::full(parameter.sizes(), 1.0 * step * rank);
    sync.synchronize();
    for (at::Tensor& parameter : parameters)
      EXPECT_TRUE(at::equal(parameter.grad(), at::full(parameter.sizes(), step * (size - 1) / 2.0)));
  }
}

}  // namespace
}  // namespace mha2mla::dist

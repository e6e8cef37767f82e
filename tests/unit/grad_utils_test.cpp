// Gradient norm and clipping against closed forms (gradients of constant entries), the tensor-parallel
// reduction rule (shards summed over ranks, replicated tensors counted once), the NaN/Inf guard's
// counting and stop, and accumulation helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "trainer/grad_utils.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

struct Params {
  at::Tensor a = at::zeros({2, 3}).set_requires_grad(true);  // gradient: six 2s -> squares 24
  at::Tensor b = at::zeros({4}).set_requires_grad(true);     // gradient: four 0.5s -> squares 1
  at::Tensor c = at::zeros({5}).set_requires_grad(true);     // no gradient
  Params() {
    a.mutable_grad() = at::full({2, 3}, 2.0);
    b.mutable_grad() = at::full({4}, 0.5);
  }
  std::vector<ParamRef> refs(bool a_sharded = false) {
    std::vector<ParamRef> out(3);
    out[0].name = "a", out[0].tensor = &a;
    out[1].name = "b", out[1].tensor = &b;
    out[2].name = "c", out[2].tensor = &c;
    if (a_sharded) out[0].shard_dim = 0, out[0].full_size = 4;
    return out;
  }
};

TEST(GradUtils, NormIsTheL2NormOfEveryGradient) {
  Params p;
  EXPECT_DOUBLE_EQ(gradient_norm(p.refs()).norm(), 5.0);  // sqrt(24 + 1)
}

TEST(GradUtils, ClipScalesToMaxNormAsTorchDoes) {
  Params p;
  double norm = clip_gradients(p.refs(), 1.0);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  const double coefficient = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(p.a.grad()[0][0].item<double>(), 2.0 * coefficient, 1e-7);
  EXPECT_NEAR(p.b.grad()[3].item<double>(), 0.5 * coefficient, 1e-7);
  EXPECT_NEAR(gradient_norm(p.refs()).norm(), 1.0, 1e-6);
  EXPECT_FALSE(p.c.grad().defined());
}

TEST(GradUtils, NoClipUnderTheThresholdOrWhenOff) {
  Params p;
  EXPECT_DOUBLE_EQ(clip_gradients(p.refs(), 10.0), 5.0);
  EXPECT_EQ(p.a.grad()[0][0].item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(clip_gradients(p.refs(), 0.0), 5.0);
  EXPECT_EQ(p.b.grad()[0].item<double>(), 0.5);
}

TEST(GradUtils, ShardedGradientsGoThroughTheReducerReplicatedOnesDoNot) {
  // Two tensor-parallel ranks holding equal shards of `a`: the reducer doubles the shard sum (24 -> 48);
  // `b` is replicated and counted once: sqrt(48 + 1) = 7.
  Params p;
  int calls = 0;
  auto reduce = [&](double local) {
    ++calls;
    EXPECT_DOUBLE_EQ(local, 24.0);
    return 2 * local;
  };
  GradNorm norm = gradient_norm(p.refs(true), reduce);
  EXPECT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(norm.sum_of_squares_sharded, 48.0);
  EXPECT_DOUBLE_EQ(norm.sum_of_squares_replicated, 1.0);
  EXPECT_DOUBLE_EQ(norm.norm(), 7.0);
}

TEST(GradUtils, NonFiniteGradientsMakeANonFiniteNormAndAreNotClipped) {
  Params p;
  p.b.mutable_grad()[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(clip_gradients(p.refs(), 1.0)));
  EXPECT_EQ(p.a.grad()[0][0].item<double>(), 2.0);
  EXPECT_FALSE(gradients_finite(p.refs()));
  p.b.mutable_grad()[1] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(gradient_norm(p.refs()).norm()));
  p.b.mutable_grad()[1] = 0.5;
  EXPECT_TRUE(gradients_finite(p.refs()));
}

TEST(GradUtils, ScaleAndClear) {
  Params p;
  scale_gradients(p.refs(), 0.25);
  EXPECT_EQ(p.a.grad()[1][2].item<double>(), 0.5);
  clear_gradients(p.refs());
  EXPECT_FALSE(p.a.grad().defined());
  EXPECT_DOUBLE_EQ(gradient_norm(p.refs()).norm(), 0.0);
}

TEST(NonFiniteGuard, SkipsCountsAndStopsAfterTooManyInARow) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  NonFiniteGuard guard(3);
  EXPECT_TRUE(guard.check(1, 0.5, 1.0));
  EXPECT_FALSE(guard.check(2, nan, 1.0));
  EXPECT_FALSE(guard.check(3, 0.5, inf));
  EXPECT_EQ(guard.consecutive(), 2);
  EXPECT_TRUE(guard.check(4, 0.5, 1.0));  // a good step resets the run of bad ones
  EXPECT_EQ(guard.consecutive(), 0);
  EXPECT_EQ(guard.skipped_total(), 2);
  EXPECT_FALSE(guard.check(5, nan, nan));
  EXPECT_FALSE(guard.check(6, -inf, 1.0));
  EXPECT_ERROR_CONTAINS(guard.check(7, nan, 1.0), "step 7", "3 consecutive", "train.max_nonfinite_steps = 3");
  EXPECT_EQ(guard.skipped_total(), 5);
}

}  // namespace
}  // namespace mha2mla

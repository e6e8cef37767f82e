// Gradients through the vision towers and projectors (what SFT of a VLM trains) against central finite
// differences in float64: autograd must see every path from the pixels' features to each weight (a detached
// or in-place step would leave a gradient that is silently wrong).
#include <ATen/ATen.h>

#include <cmath>

#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "model/vlm/vision_encoder.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

struct Probe {
  std::unique_ptr<Model> model;
  MultimodalBatch batch;
  at::Tensor weights;  // the loss is sum(features * weights)
};

at::Tensor loss_of(const Probe& probe) {
  at::Tensor total = at::zeros({}, at::kDouble);
  auto features = probe.model->vision->encode(probe.batch);
  int64_t at = 0;
  for (const auto& f : features) {
    at::Tensor flat = f.reshape({-1});
    total = total + (flat * probe.weights.narrow(0, at, flat.numel())).sum();
    at += flat.numel();
  }
  return total;
}

void expect_gradients_match_finite_differences(const std::string& arch, MultimodalBatch batch) {
  Probe probe{build_model(tiny_config(arch), ModelLoadOptions{at::kDouble}), std::move(batch), {}};
  init_random([&](const ParamVisitor& v) { probe.model->visit(v); }, 5);
  // Norm weights and biases away from their 1 / 0 starting values, so their gradients are not special cases.
  probe.model->vision->visit([](ParamRef& ref) {
    at::NoGradGuard no_grad;
    ref.tensor->add_(at::randn_like(*ref.tensor) * 0.05);
  });
  int64_t numel = 0;
  {
    at::NoGradGuard no_grad;
    for (const auto& f : probe.model->vision->encode(probe.batch)) numel += f.numel();
  }
  probe.weights = at::randn({numel}, at::kDouble);

  std::vector<ParamRef> params;
  probe.model->vision->visit([&](ParamRef& ref) {
    ref.tensor->requires_grad_(true);
    params.push_back(ref);
  });
  ASSERT_FALSE(params.empty());
  loss_of(probe).backward();

  int checked = 0;
  for (ParamRef& ref : params) {
    at::Tensor& w = *ref.tensor;
    // A weight off the features' path (LLaVA reads a layer below the last) has no gradient: then it must not
    // move the loss either.
    at::Tensor grad = w.grad().defined() ? w.grad().reshape({-1}) : at::zeros({w.numel()}, at::kDouble);
    // A few elements per tensor: the largest-gradient one and two fixed ones.
    std::vector<int64_t> picks = {grad.abs().argmax().item<int64_t>(), 0, w.numel() / 2};
    for (int64_t i : picks) {
      double* value = w.data_ptr<double>() + i;  // contiguous, float64
      const double original = *value, eps = 1e-6;
      double up, down;
      {
        at::NoGradGuard no_grad;
        *value = original + eps;
        up = loss_of(probe).item<double>();
        *value = original - eps;
        down = loss_of(probe).item<double>();
        *value = original;
      }
      const double numeric = (up - down) / (2 * eps), analytic = grad[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << arch << " " << ref.name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(VisionGradients, QwenVisionTowerAndMergerMatchFiniteDifferences) {
  auto config = tiny_config("qwen2_5_vl");
  const int64_t patch = config.qwen_vision->patch_size, temporal = config.qwen_vision->temporal_patch_size;
  MultimodalBatch batch;
  // Two images: 4x4 patches (windows) and 2x6 patches.
  batch.pixel_values = {at::randn({16, 3 * temporal * patch * patch}, at::kDouble),
                        at::randn({12, 3 * temporal * patch * patch}, at::kDouble)};
  batch.image_grid_thw = {{1, 4, 4}, {1, 2, 6}};
  expect_gradients_match_finite_differences("qwen2_5_vl", std::move(batch));
}

TEST(VisionGradients, ClipTowerAndProjectorMatchFiniteDifferences) {
  auto config = tiny_config("llava");
  const int64_t side = config.clip_vision->image_size;
  MultimodalBatch batch;
  batch.pixel_values = {at::randn({3, side, side}, at::kDouble)};
  expect_gradients_match_finite_differences("llava", std::move(batch));
}

}  // namespace
}  // namespace mha2mla

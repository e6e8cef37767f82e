// AdamW against a float64 step-by-step reference written from the algorithm's definition (Loshchilov &
// Hutter, decoupled weight decay; Kingma & Ba bias correction), the first step's closed form, float32
// master weights under bfloat16 parameters, parameter groups, and a bit-exact save / restore round trip.
// (tests/python/test_optimizer.py compares with torch.optim.AdamW itself.)
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "common/files.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "trainer/optimizer.h"
#include "trainer/train_config.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

ParamRef ref(const std::string& name, at::Tensor& tensor) {
  ParamRef r;
  r.name = name;
  r.tensor = &tensor;
  return r;
}

at::Tensor param(std::vector<double> values, at::ScalarType dtype = at::kFloat) {
  return at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(dtype).set_requires_grad(true);
}

void set_grad(at::Tensor& p, const std::vector<double>& values) {
  p.mutable_grad() = at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(p.scalar_type());
}

// Reference AdamW on one scalar in float64.
struct ScalarAdamW {
  double p, m = 0, v = 0;
  int t = 0;
  void step(double g, double lr, double wd, double b1, double b2, double eps) {
    ++t;
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));
    p -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

TEST(AdamW, FirstStepClosedForm) {
  // After one step the bias-corrected moments are m_hat = g and v_hat = g^2, so
  // p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
  at::Tensor w = param({1.0, -2.0, 0.5, 3.0});
  AdamWOptions options{0.9, 0.95, 1e-8};
  AdamW adam({{"weights", {ref("w", w)}, 1.0, 0.1}}, options);
  set_grad(w, {0.5, -0.25, 2.0, 1e-3});
  adam.step(0.01);
  std::vector<double> p0{1.0, -2.0, 0.5, 3.0}, g{0.5, -0.25, 2.0, 1e-3};
  for (int i = 0; i < 4; ++i) {
    double expected = p0[i] * (1 - 0.01 * 0.1) - 0.01 * g[i] / (std::fabs(g[i]) + 1e-8);
    EXPECT_NEAR(w[i].item<double>(), expected, 1e-6) << i;
  }
  EXPECT_EQ(adam.steps_taken(), 1);
}

TEST(AdamW, MatchesFloat64ReferenceOverSeveralStepsAndGroups) {
  at::Tensor a = param({0.3, -1.2, 2.0}), b = param({1.5, -0.7});
  AdamWOptions options{0.8, 0.99, 1e-6};
  AdamW adam({{"weights", {ref("a", a)}, 1.0, 0.05}, {"lora", {ref("b", b)}, 3.0, 0.0}}, options);
  std::vector<ScalarAdamW> ra{{0.3}, {-1.2}, {2.0}}, rb{{1.5}, {-0.7}};
  const double lrs[] = {1e-2, 2e-2, 1.5e-2, 5e-3, 1e-3};
  for (int s = 0; s < 5; ++s) {
    std::vector<double> ga{std::sin(s + 1.0), 0.1 * (s - 2), 1.0 / (s + 1)}, gb{-0.3 * s, std::cos(3.0 * s)};
    set_grad(a, ga);
    set_grad(b, gb);
    adam.step(lrs[s]);
    for (int i = 0; i < 3; ++i) ra[i].step(ga[i], lrs[s], 0.05, 0.8, 0.99, 1e-6);
    for (int i = 0; i < 2; ++i) rb[i].step(gb[i], lrs[s] * 3.0, 0.0, 0.8, 0.99, 1e-6);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i].item<double>(), ra[i].p, 2e-6) << "step " << s << " a" << i;
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(b[i].item<double>(), rb[i].p, 2e-6) << "step " << s << " b" << i;
  }
  auto state = adam.state_dict();
  EXPECT_EQ(state.at("a.step").item<int64_t>(), 5);
  EXPECT_NEAR(state.at("a.exp_avg")[0].item<double>(), ra[0].m, 1e-6);
  EXPECT_NEAR(state.at("b.exp_avg_sq")[1].item<double>(), rb[1].v, 1e-6);
}

TEST(AdamW, ParametersWithoutGradientAreLeftAlone) {
  at::Tensor a = param({1.0}), b = param({2.0});
  AdamW adam({{"weights", {ref("a", a), ref("b", b)}, 1.0, 0.1}}, {});
  set_grad(a, {1.0});
  adam.step(0.1);
  EXPECT_EQ(b.item<double>(), 2.0);
  auto state = adam.state_dict();
  EXPECT_EQ(state.at("a.step").item<int64_t>(), 1);
  EXPECT_EQ(state.at("b.step").item<int64_t>(), 0);
  adam.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(AdamW, Bfloat16ParametersKeepAFloat32Master) {
  // Near 1.0 bfloat16 steps by 2^-8 below and 2^-7 above: updates of 1e-4 are lost in the parameter but
  // accumulate in the master, and the parameter is always the master rounded.
  at::Tensor w = param({1.0, -1.0}, at::kBFloat16);
  AdamW adam({{"weights", {ref("w", w)}, 1.0, 0.0}}, {});
  for (int s = 0; s < 30; ++s) {
    set_grad(w, {1.0, -1.0});
    adam.step(1e-4);
    at::Tensor master = adam.state_dict().at("w.master");
    ASSERT_EQ(master.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(w, master.to(at::kBFloat16))) << "step " << s;
  }
  at::Tensor master = adam.state_dict().at("w.master");
  EXPECT_NEAR(master[0].item<double>(), 1.0 - 30e-4, 1e-5);  // a constant gradient moves by lr per step
  EXPECT_NEAR(master[1].item<double>(), -1.0 + 30e-4, 1e-5);
  EXPECT_EQ(w[0].item<double>(), 0.99609375);  // 1 - 2^-8: the nearest bfloat16 to 0.997
}

TEST(AdamW, StateRoundTripsThroughSafetensorsBitForBit) {
  std::string dir = testing::scratch_dir();
  at::manual_seed(3);
  auto make = [] {
    std::vector<at::Tensor> ps{at::randn({4, 3}).set_requires_grad(true),
                               at::randn({5}).to(at::kBFloat16).set_requires_grad(true)};
    return ps;
  };
  std::vector<at::Tensor> grads;
  for (int s = 0; s < 5; ++s) grads.push_back(at::randn({4, 3})), grads.push_back(at::randn({5}));
  auto groups_for = [](std::vector<at::Tensor>& ps) {
    return std::vector<ParamGroup>{{"weights", {ref("x.weight", ps[0])}, 1.0, 0.1},
                                   {"vectors", {ref("x.bias", ps[1])}, 2.0, 0.0}};
  };
  auto run_steps = [&](AdamW& adam, std::vector<at::Tensor>& ps, int from, int to) {
    for (int s = from; s < to; ++s) {
      ps[0].mutable_grad() = grads[2 * s].clone();
      ps[1].mutable_grad() = grads[2 * s + 1].to(at::kBFloat16);
      adam.step(1e-2 / (s + 1));
    }
  };
  // Uninterrupted: five steps.
  std::vector<at::Tensor> straight = make();
  std::vector<at::Tensor> initial{straight[0].detach().clone(), straight[1].detach().clone()};
  AdamW adam_straight(groups_for(straight), {});
  run_steps(adam_straight, straight, 0, 5);

  // Interrupted after three: state and weights through files, into fresh objects.
  std::vector<at::Tensor> first{initial[0].clone().set_requires_grad(true), initial[1].clone().set_requires_grad(true)};
  AdamW adam_first(groups_for(first), {});
  run_steps(adam_first, first, 0, 3);
  io::SafetensorsWriter writer;
  for (const auto& [name, tensor] : adam_first.state_dict()) io::add_tensor(writer, name, tensor);
  io::add_tensor(writer, "weights.x.weight", first[0].detach());
  io::add_tensor(writer, "weights.x.bias", first[1].detach());
  writer.write(path_join(dir, "state.safetensors"));

  io::SafetensorsFile file(path_join(dir, "state.safetensors"));
  std::vector<at::Tensor> second{at::zeros({4, 3}).set_requires_grad(true),
                                 at::zeros({5}, at::kBFloat16).set_requires_grad(true)};
  {
    at::NoGradGuard no_grad;
    second[0].copy_(io::to_tensor(file.view("weights.x.weight")));
    second[1].copy_(io::to_tensor(file.view("weights.x.bias")));
  }
  AdamW adam_second(groups_for(second), {});
  std::map<std::string, at::Tensor> state;
  for (const auto& name : file.names())
    if (name.rfind("weights.", 0) != 0) state[name] = io::to_tensor(file.view(name));
  adam_second.load_state_dict(state, "state.safetensors");
  EXPECT_EQ(adam_second.steps_taken(), 3);
  run_steps(adam_second, second, 3, 5);

  for (int i = 0; i < 2; ++i) EXPECT_TRUE(at::equal(straight[i], second[i])) << "parameter " << i;
  auto a = adam_straight.state_dict(), b = adam_second.state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(at::equal(tensor, b.at(name))) << name;
}

TEST(AdamW, LoadStateRefusesMismatchesNamingTheTensor) {
  at::Tensor w = param({1.0, 2.0});
  AdamW adam({{"weights", {ref("w", w)}, 1.0, 0.0}}, {});
  auto good = adam.state_dict();
  auto missing = good;
  missing.erase("w.exp_avg_sq");
  EXPECT_ERROR_CONTAINS(adam.load_state_dict(missing, "opt.safetensors"), "opt.safetensors", "'w.exp_avg_sq'",
                        "missing");
  auto wrong_shape = good;
  wrong_shape["w.exp_avg"] = at::zeros({3});
  EXPECT_ERROR_CONTAINS(adam.load_state_dict(wrong_shape, "opt.safetensors"), "'w.exp_avg'", "[3]", "[2]");
  auto extra = good;
  extra["v.exp_avg"] = at::zeros({2});
  EXPECT_ERROR_CONTAINS(adam.load_state_dict(extra, "opt.safetensors"), "unexpected", "'v.exp_avg'");
}

TEST(AdamW, RefusesDuplicatesAndIntegerParameters) {
  at::Tensor w = param({1.0});
  at::Tensor ints = at::zeros({2}, at::kLong);
  EXPECT_ERROR_CONTAINS(AdamW bad({{"weights", {ref("w", w), ref("w", w)}, 1.0, 0.0}}, {}), "'w'", "twice");
  EXPECT_ERROR_CONTAINS(AdamW bad({{"weights", {ref("w", w), ref("alias", w)}, 1.0, 0.0}}, {}), "'alias'",
                        "same tensor");
  EXPECT_ERROR_CONTAINS(AdamW bad({{"weights", {ref("ints", ints)}, 1.0, 0.0}}, {}), "'ints'", "Long");
}

TEST(AdamW, RecipeGroupsSeparateLoraAndVectors) {
  at::Tensor down = param({1, 2, 3, 4}).reshape({2, 2}), norm = param({1, 1}), bias = param({0, 0});
  at::Tensor lora_a = param({1, 2, 3, 4}).reshape({2, 2});
  OptimizerConfig config;
  config.weight_decay = 0.1;
  config.lora_lr_scale = 4.0;
  auto groups = make_param_groups({ref("layers.0.self_attn.latent_down.weight", down),
                                   ref("layers.0.input_layernorm.weight", norm),
                                   ref("layers.0.self_attn.q_proj.bias", bias),
                                   ref("layers.0.self_attn.q_proj.lora_a.weight", lora_a)},
                                  config);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].name, "weights");
  EXPECT_EQ(groups[0].params.size(), 1u);
  EXPECT_EQ(groups[0].weight_decay, 0.1);
  EXPECT_EQ(groups[1].name, "vectors");
  EXPECT_EQ(groups[1].params.size(), 2u);
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[2].name, "lora");
  EXPECT_EQ(groups[2].params[0].name, "layers.0.self_attn.q_proj.lora_a.weight");
  EXPECT_EQ(groups[2].lr_scale, 4.0);
  config.decay_vectors = true;
  EXPECT_EQ(make_param_groups({ref("n", norm)}, config)[0].weight_decay, 0.1);
}

}  // namespace
}  // namespace mha2mla

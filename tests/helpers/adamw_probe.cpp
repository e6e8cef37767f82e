// Test helper: runs mha2mla's AdamW (and gradient clipping) on seeded parameters and gradients and writes
// everything as .npy plus a JSON description, for tests/python/test_optimizer.py to replay with
// torch.optim.AdamW and torch.nn.utils.clip_grad_norm_.
//   adamw_probe OUT_DIR
// Files: init_<p>.npy, grad_<s>_<p>.npy (absent: no gradient at that step), after_<s>_<p>.npy,
// master_<s>_<p>.npy (bfloat16 parameters), clip_grad_<i>.npy / clipped_<i>.npy, probe.json.
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "trainer/grad_utils.h"
#include "trainer/optimizer.h"
#include "trainer/schedule.h"
#include "trainer/train_config.h"
#include "tests/helpers/npy.h"

using namespace mha2mla;

namespace {

ParamRef ref(const std::string& name, at::Tensor& tensor) {
  ParamRef r;
  r.name = name;
  r.tensor = &tensor;
  return r;
}

void run(const std::string& out) {
  ensure_directory(out);
  at::manual_seed(1234);
  std::vector<at::Tensor> params{at::randn({5, 3}), at::randn({7}), at::randn({4, 2}),
                                 at::randn({6}).to(at::kBFloat16)};
  for (auto& p : params) p.set_requires_grad(true);
  for (size_t i = 0; i < params.size(); ++i) testing::write_npy(fmt::format("{}/init_{}.npy", out, i), params[i]);

  struct GroupSpec {
    std::string name;
    std::vector<size_t> members;
    double lr_scale, weight_decay;
  };
  std::vector<GroupSpec> specs{{"weights", {0, 1}, 1.0, 0.1}, {"lora", {2}, 2.5, 0.0}, {"bf16", {3}, 1.0, 0.05}};
  std::vector<ParamGroup> groups;
  for (const auto& spec : specs) {
    ParamGroup group{spec.name, {}, spec.lr_scale, spec.weight_decay};
    for (size_t i : spec.members) group.params.push_back(ref("p" + std::to_string(i), params[i]));
    groups.push_back(group);
  }
  AdamWOptions options{0.9, 0.95, 1e-8};
  AdamW adam(groups, options);

  ScheduleConfig schedule_config;
  schedule_config.kind = "wsd_sqrt";
  schedule_config.warmup_steps = 2;
  schedule_config.decay_fraction = 0.5;
  schedule_config.min_lr_ratio = 0.1;
  const int64_t steps = 7;
  LearningRateSchedule schedule(schedule_config, 3e-3, steps);

  nlohmann::json probe;
  probe["beta1"] = options.beta1;
  probe["beta2"] = options.beta2;
  probe["eps"] = options.eps;
  probe["peak_lr"] = 3e-3;
  probe["steps"] = steps;
  probe["schedule"] = {{"warmup_steps", 2}, {"decay_fraction", 0.5}, {"min_lr_ratio", 0.1}};
  for (const auto& spec : specs)
    probe["groups"].push_back({{"params", spec.members}, {"lr_scale", spec.lr_scale}, {"weight_decay", spec.weight_decay}});
  for (int64_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (s == 3 && i == 1) {  // no gradient: the parameter and its state must not move
        params[i].mutable_grad() = at::Tensor();
        continue;
      }
      params[i].mutable_grad() = (at::randn(params[i].sizes()) * (0.1 + s)).to(params[i].scalar_type());
      testing::write_npy(fmt::format("{}/grad_{}_{}.npy", out, s, i), params[i].grad());
    }
    double lr = schedule.at(s);
    probe["lr"].push_back(lr);
    adam.step(lr);
    auto state = adam.state_dict();
    for (size_t i = 0; i < params.size(); ++i) {
      testing::write_npy(fmt::format("{}/after_{}_{}.npy", out, s, i), params[i].detach());
      std::string master = "p" + std::to_string(i) + ".master";
      if (state.count(master)) testing::write_npy(fmt::format("{}/master_{}_{}.npy", out, s, i), state.at(master));
    }
  }

  // Clipping: three gradients with a global norm far above max_norm, one without a gradient.
  std::vector<at::Tensor> clip_params{at::zeros({3, 4}), at::zeros({10}), at::zeros({2})};
  std::vector<ParamRef> clip_refs;
  for (size_t i = 0; i < clip_params.size(); ++i) {
    clip_params[i].set_requires_grad(true);
    if (i < 2) {
      clip_params[i].mutable_grad() = at::randn(clip_params[i].sizes()) * 3.0;
      testing::write_npy(fmt::format("{}/clip_grad_{}.npy", out, i), clip_params[i].grad());
    }
    clip_refs.push_back(ref("c" + std::to_string(i), clip_params[i]));
  }
  probe["clip_max_norm"] = 1.5;
  probe["clip_norm"] = clip_gradients(clip_refs, 1.5);
  for (size_t i = 0; i < 2; ++i) testing::write_npy(fmt::format("{}/clipped_{}.npy", out, i), clip_params[i].grad());
  std::ofstream(path_join(out, "probe.json")) << probe.dump(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: adamw_probe OUT_DIR\n");
    return 2;
  }
  try {
    run(argv[1]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

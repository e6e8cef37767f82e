// Training-step throughput of local vs global distillation (trainer/losses.h), f32 on CPU.
//   bench_train_step [--rounds N] [--threads T] [--batch B] [--tokens T] [--mode local|global|both]
// One step = loss_and_backward (activation loss) + gradient clipping + AdamW update + zero_grad on the default
// trainable set (latent projections + LoRA rank 8 on q_proj / o_proj), as `mha2mla train` runs it. The model is
// a 7B-shaped slice (hidden 1024, 4 layers, 16 heads / 4 KV heads of head_dim 64, MLP 2816; r = 16, d_kv = 32),
// random weights, converted with plain SVD; the first 64 tokens of each row are image tokens.
// Prints one line per round and "median_step_s_<mode>=<x>" lines that bench_train_step_baseline.py reads.
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/allocator.h"
#include "model/convert/converter.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/bench/bench_timing.h"
#include "trainer/grad_utils.h"
#include "trainer/losses.h"
#include "trainer/optimizer.h"
#include "trainer/trainable.h"

using namespace mha2mla;

namespace {

std::unique_ptr<Model> bench_model() {
  hf::HfConfig config = tiny_config("llama");
  hf::TextConfig& t = config.text;
  t.vocab_size = 4096, t.hidden_size = 1024, t.intermediate_size = 2816, t.num_hidden_layers = 4;
  t.num_attention_heads = 16, t.num_key_value_heads = 4, t.head_dim = 64;
  t.rope_scaling = hf::RopeScaling{};
  t.rope_theta = 10000;
  auto model = build_model(config, ModelLoadOptions{at::kFloat, "cpu"});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 1);
  ConversionOptions options;
  options.rope_dims = 16;
  options.latent_rank = 32;
  options.strategy = "high";
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_tensor_memory();
  int rounds = 7, threads = 1;
  int64_t batch = 2, tokens = 256;
  std::string modes = "both";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) break;
    std::string value = argv[++i];
    if (flag == "--rounds") rounds = std::stoi(value);
    if (flag == "--threads") threads = std::stoi(value);
    if (flag == "--batch") batch = std::stoll(value);
    if (flag == "--tokens") tokens = std::stoll(value);
    if (flag == "--mode") modes = value;
  }
  at::set_num_threads(threads);
  auto model = bench_model();
  TrainConfig train;  // default preset, activation loss only, LoRA rank 8 on q_proj / o_proj
  attach_lora(*model, train.lora, 1);
  std::vector<TrainableParameter> trainable = select_trainable(*model, train);
  std::vector<ParamRef> refs;
  for (auto& p : trainable) {
    ParamRef ref;
    ref.name = p.name;
    ref.tensor = &p.tensor;
    refs.push_back(ref);
  }
  AdamW optimizer(make_param_groups(refs, train.optimizer), adamw_options(train.optimizer));

  at::manual_seed(0);
  MultimodalBatch b;
  b.input_ids = at::randint(0, 4096, {batch, tokens}, at::kLong);
  b.attention_mask = at::ones({batch, tokens}, at::kLong);
  PreparedInputs inputs = model->prepare(b);
  inputs.text.image_mask = (at::arange(tokens, at::kLong) < 64).unsqueeze(0).expand({batch, tokens}).contiguous();
  at::Tensor labels = b.input_ids.clone();
  std::printf("model: hidden 1024, 4 layers, 16/4 heads x 64, MLP 2816, r 16, d_kv 32; batch %lld x %lld tokens; "
              "%d thread(s); %zu trainable tensors\n",
              static_cast<long long>(batch), static_cast<long long>(tokens), threads, trainable.size());

  std::vector<std::string> run_modes = modes == "both" ? std::vector<std::string>{"local", "global"}
                                                       : std::vector<std::string>{modes};
  for (const std::string& mode : run_modes) {
    train.mode = mode;
    auto step = [&] {
      loss_and_backward(*model, inputs, labels, train, 1.0);
      clip_gradients(refs, train.optimizer.clip_norm);
      optimizer.step(1e-5);
      optimizer.zero_grad();
    };
    std::vector<double> wall, cpu;
    for (int r = 0; r <= rounds; ++r) {  // round 0 warms up
      const bench::Stopwatch watch;
      step();
      const double s = watch.wall_seconds(), c = watch.cpu_seconds();
      if (r) wall.push_back(s), cpu.push_back(c);
      std::printf("%s round %d: %.4f s (%.4f s CPU)\n", mode.c_str(), r, s, c);
    }
    std::printf("median_step_s_%s=%.6f\n", mode.c_str(), bench::median(wall));
    std::printf("median_cpu_s_%s=%.6f\n", mode.c_str(), bench::median(cpu));
    std::printf("tokens_per_s_%s=%.1f\n", mode.c_str(), static_cast<double>(batch * tokens) / bench::median(wall));
  }
  return 0;
}

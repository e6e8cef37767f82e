// Training-step throughput of data parallelism (and tensor parallelism) against one process, on the same global
// batch: the training loop's step (distillation loss and backward, gradient sync, tensor-parallel gradient sum,
// clipping, AdamW) on a small but not trivial converted model, 1 thread per rank.
//
//   OMP_NUM_THREADS=1 build/tests/bench/bench_dp_step                               one process, the whole batch
//   OMP_NUM_THREADS=1 mpiexec -n 2 --bind-to none build/tests/bench/bench_dp_step   data parallel 2, half each
//   OMP_NUM_THREADS=1 mpiexec -n 2 --bind-to none build/tests/bench/bench_dp_step --tensor-parallel 2
//   (as root: add --allow-run-as-root; options: --rows 8 --tokens 128 --steps 8 --mode local|global)
//
// The model (built in code, identical on every rank from a seed): Llama-style, hidden 512, 4 layers, 8 heads of 64,
// 4 KV heads, MLP 1408, vocabulary 4096; converted to MLA (rope_dims 16, latent_rank 32 per KV head, joint) with
// LoRA rank 8 on q_proj / o_proj; the default trainable set. The global batch is --rows rows of --tokens tokens,
// split by rows over data-parallel ranks. Reported: the median step time (slowest rank), tokens per second, the
// share of the step spent in gradient sync, and the speed-up over one process measured in the same session.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/error.h"
#include "common/log.h"
#include "distributed/distributed_runtime.h"
#include "distributed/gradient_sync.h"
#include "distributed/launch_environment.h"
#include "model/convert/converter.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tensor_parallel.h"
#include "model/tiny/make_tiny.h"
#include "tests/bench/bench_timing.h"
#include "trainer/grad_utils.h"
#include "trainer/losses.h"
#include "trainer/optimizer.h"
#include "trainer/trainable.h"

namespace {

using namespace mha2mla;

hf::HfConfig bench_config() {
  hf::HfConfig config = tiny_config("llama");
  auto& t = config.text;
  t.hidden_size = 512;
  t.intermediate_size = 1408;
  t.num_hidden_layers = 4;
  t.num_attention_heads = 8;
  t.num_key_value_heads = 4;
  t.head_dim = 64;
  t.vocab_size = 4096;
  return config;
}

// The converted model, written once by world rank 0 (every rank would build the same one).
std::string write_model(dist::Communicator& world) {
  std::string folder = (std::filesystem::temp_directory_path() / "mha2mla-bench-dp-step").string();
  if (world.rank() == 0) {
    std::filesystem::remove_all(folder);
    auto model = build_model(bench_config(), ModelLoadOptions{});
    init_random([&](const ParamVisitor& v) { model->visit(v); }, 7, 0.05);
    ConversionOptions options;
    options.rope_dims = 16;
    options.latent_rank = 32;
    options.strategy = "uniform";
    options.init = "svd";
    convert_to_mla(*model, options, nullptr);
    save_model(*model, folder);
  }
  world.barrier();
  return folder;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 8, tokens = 128, steps = 8, tensor_parallel = 1;
  std::string mode = "local";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rows") rows = std::atoll(argv[i + 1]);
    else if (flag == "--tokens") tokens = std::atoll(argv[i + 1]);
    else if (flag == "--steps") steps = std::atoll(argv[i + 1]);
    else if (flag == "--tensor-parallel") tensor_parallel = std::atoll(argv[i + 1]);
    else if (flag == "--mode") mode = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: bench_dp_step [--rows 8] [--tokens 128] [--steps 8] [--tensor-parallel 1] "
                           "[--mode local|global]\n");
      return 2;
    }
  }
  auto launch = detect_launch_environment();
  logging::init(launch.rank, launch.world_size, "warn");
  DistributedConfig config;
  config.tensor_parallel = tensor_parallel;
  dist::DistributedRuntime runtime(config, launch);
  return runtime.run([&] {
    const char* threads = std::getenv("OMP_NUM_THREADS");
    at::set_num_threads(threads ? std::atoi(threads) : 1);
    dist::ProcessGrid& grid = runtime.grid();
    dist::Communicator& world = runtime.world();
    dist::Communicator& dp = grid.dp();
    dist::TensorParallel tp;
    if (grid.shape().tensor_parallel > 1) tp.group = &grid.tp();
    if (rows % dp.size() != 0) fail("--rows {} must divide by the data-parallel size {}", rows, dp.size());

    const std::string folder = write_model(world);
    auto model = load_model(folder, ModelLoadOptions{at::kFloat, "cpu", tp});
    TrainConfig train;
    train.mode = mode;
    if (mode == "global") train.loss.kl = 1.0;
    train.lora.rank = 8;
    attach_lora(*model, train.lora, 3);
    std::vector<TrainableParameter> trainable = select_trainable(*model, train);
    std::map<std::string, ParamRef> by_name;
    model->visit([&](ParamRef& ref) { by_name[ref.name] = ref; });
    std::vector<ParamRef> refs;
    std::vector<at::Tensor> tensors;
    for (auto& p : trainable) {
      ParamRef ref = by_name.at(p.name);
      ref.tensor = &p.tensor;
      refs.push_back(ref);
      tensors.push_back(p.tensor);
    }
    AdamW optimizer(make_param_groups(refs, train.optimizer), adamw_options(train.optimizer));
    std::unique_ptr<dist::GradientSynchronizer> sync;
    if (dp.size() > 1) sync = std::make_unique<dist::GradientSynchronizer>(tensors, dp, 25.0);
    SumAcrossRanks sum_over_dp;
    if (dp.size() > 1)
      sum_over_dp = [&](std::vector<double>& values) {
        at::Tensor t = at::tensor(values, at::kDouble);
        dp.all_reduce(t);
        for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
      };

    // This rank's rows of the global batch (the same random ids everywhere, from one seed).
    at::manual_seed(11);
    at::Tensor ids = at::randint(0, bench_config().text.vocab_size, {rows, tokens}, at::kLong);
    const int64_t local_rows = rows / dp.size();
    ids = ids.narrow(0, grid.dp_rank() * local_rows, local_rows);
    PreparedInputs inputs;
    inputs.embeddings = model->text->embed(ids);
    inputs.text.positions = default_positions(local_rows, tokens, at::Tensor(), at::kCPU);
    at::Tensor labels = ids;

    std::vector<double> step_times, sync_times;
    for (int64_t step = 0; step < steps + 2; ++step) {  // 2 warm-up steps
      world.barrier();
      const double start = MPI_Wtime();
      loss_and_backward(*model, inputs, labels, train, static_cast<double>(dp.size()), sum_over_dp);
      const double before_sync = MPI_Wtime();
      if (sync) sync->synchronize();
      sum_tensor_parallel_gradients(refs, tp);
      const double after_sync = MPI_Wtime();
      clip_gradients(refs, train.optimizer.clip_norm, tp.enabled() ? sum_over(*tp.group) : SquaredNormReducer());
      optimizer.step(1e-4);
      optimizer.zero_grad();
      const double elapsed = world.all_reduce_double(MPI_Wtime() - start, dist::ReduceOp::max);
      const double synced = world.all_reduce_double(after_sync - before_sync, dist::ReduceOp::max);
      if (step >= 2) {
        step_times.push_back(elapsed);
        sync_times.push_back(synced);
      }
    }
    const double median = bench::median(step_times), sync_median = bench::median(sync_times);
    int64_t trained = 0;
    for (const auto& p : trainable) trained += p.tensor.numel();
    if (world.rank() == 0)
      std::printf("%s: world %d = dp %d x tp %d, %d thread(s)/rank, global batch %lld x %lld tokens, mode %s, "
                  "%lld trainable parameters per rank: step %.1f ms (median of %lld), %.0f tokens/s, "
                  "gradient sync %.1f ms (%.1f%%)\n",
                  runtime.launch().launcher.c_str(), world.size(), dp.size(), grid.shape().tensor_parallel,
                  at::get_num_threads(), static_cast<long long>(rows), static_cast<long long>(tokens), mode.c_str(),
                  static_cast<long long>(trained), median * 1e3, static_cast<long long>(steps),
                  static_cast<double>(rows * tokens) / median, sync_median * 1e3, 100.0 * sync_median / median);
    return 0;
  });
}

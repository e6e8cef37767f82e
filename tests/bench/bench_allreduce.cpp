// All-reduce bandwidth of the MPI communicator, side by side with a bare MPI_Allreduce on the same buffer (the
// communicator's own cost: checks, watchdog scope, avg division) and with bfloat16 tensors of the same byte size
// (which are widened to float32 for the reduction, since MPI has no 16-bit float type).
//
//   mpiexec -n 2 --bind-to none build/tests/bench/bench_allreduce [--max-mib 64] [--seconds 0.3]
//   (as root: add --allow-run-as-root)
//
// Each size is timed as the median over repetitions (at least 5, about --seconds in total); one repetition's
// time is the slowest rank's. Bus bandwidth = bytes * 2 (n - 1) / n / time, the traffic per rank of a ring
// all-reduce, comparable across world sizes.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "common/log.h"
#include "common/strings.h"
#include "distributed/distributed_runtime.h"
#include "distributed/launch_environment.h"

namespace {

using namespace mha2mla;

double now() { return MPI_Wtime(); }

// Median over repetitions of the slowest rank's time for `operation`.
template <typename Operation>
double median_seconds(dist::Communicator& world, double budget_seconds, Operation operation) {
  for (int i = 0; i < 3; ++i) operation();  // warm-up: first-touch pages, MPI's internal buffers
  std::vector<double> times;
  double spent = 0;
  while (times.size() < 5 || (spent < budget_seconds && times.size() < 200)) {
    world.barrier();
    double start = now();
    operation();
    double local = now() - start;
    double slowest = world.all_reduce_double(local, dist::ReduceOp::max);
    times.push_back(slowest);
    spent += slowest;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  double max_mib = 64, budget = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--max-mib") max_mib = std::atof(argv[i + 1]);
    else if (flag == "--seconds") budget = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_allreduce [--max-mib 64] [--seconds 0.3]\n");
      return 2;
    }
  }
  auto launch = detect_launch_environment();
  logging::init(launch.rank, launch.world_size, "warn");
  DistributedConfig config;
  dist::DistributedRuntime runtime(config, launch);
  return runtime.run([&] {
    dist::Communicator& world = runtime.world();
    MPI_Comm comm = MPI_COMM_WORLD;
    const int n = world.size();
    if (world.rank() == 0) {
      std::printf("all_reduce(sum), %d ranks (%s), median of >= 5 repetitions per size\n", n,
                  runtime.launch().launcher.c_str());
      std::printf("%10s | %12s %10s | %12s %10s | %12s %10s\n", "size", "raw MPI us", "busbw GB/s", "float32 us",
                  "busbw GB/s", "bf16 us", "busbw GB/s");
    }
    for (int64_t bytes = 4096; bytes <= static_cast<int64_t>(max_mib * 1024 * 1024); bytes *= 4) {
      at::Tensor f32 = at::zeros({bytes / 4}, at::kFloat);
      at::Tensor bf16 = at::zeros({bytes / 2}, at::kBFloat16);
      std::vector<float> raw(static_cast<size_t>(bytes / 4), 0.0f);
      double raw_s = median_seconds(world, budget, [&] {
        MPI_Allreduce(MPI_IN_PLACE, raw.data(), static_cast<int>(raw.size()), MPI_FLOAT, MPI_SUM, comm);
      });
      double f32_s = median_seconds(world, budget, [&] { world.all_reduce(f32, dist::ReduceOp::sum); });
      double bf16_s = median_seconds(world, budget, [&] { world.all_reduce(bf16, dist::ReduceOp::sum); });
      auto busbw = [&](double seconds) { return bytes * 2.0 * (n - 1) / n / seconds / 1e9; };
      if (world.rank() == 0)
        std::printf("%10s | %12.1f %10.2f | %12.1f %10.2f | %12.1f %10.2f\n",
                    format_bytes(static_cast<double>(bytes)).c_str(), raw_s * 1e6, busbw(raw_s), f32_s * 1e6,
                    busbw(f32_s), bf16_s * 1e6, busbw(bf16_s));
      std::fflush(stdout);
    }
    return 0;
  });
}

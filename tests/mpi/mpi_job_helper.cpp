// A small distributed program for the launcher, failure and Slurm tests. It runs under the real
// DistributedRuntime, as `mha2mla train` will:
//   mpi_job_helper check [ARGS...]    all_reduce of (rank + 1) must give size (size + 1) / 2; prints a line per
//                                     rank with its launcher, local rank, node, and ARGS (the launcher tests
//                                     point MHA2MLA_BINARY here, so ARGS are what `mha2mla <command>` would get)
//   mpi_job_helper throw              rank 1 throws an Error while rank 0 waits in a barrier
//   mpi_job_helper timeout SECONDS    rank 1 sleeps 60 s while rank 0 waits in an all_reduce with that timeout
//   mpi_job_helper preempt            waits (checking every 0.1 s, collectively) for SIGUSR1, then exits 0;
//                                     after a requeue (SLURM_RESTART_COUNT > 0) it reports and exits at once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "distributed/distributed_runtime.h"
#include "distributed/launch_environment.h"
#include "distributed/preemption.h"

namespace {

using namespace mha2mla;

int check(dist::DistributedRuntime& runtime, const std::vector<std::string>& args) {
  auto& world = runtime.world();
  at::Tensor x = at::full({4}, static_cast<double>(world.rank() + 1), at::kDouble);
  world.all_reduce(x, dist::ReduceOp::sum);
  double expected = world.size() * (world.size() + 1) / 2.0;
  bool ok = at::equal(x, at::full({4}, expected, at::kDouble));
  const char* node = std::getenv("SLURMD_NODENAME");
  std::printf("collective check %s: rank %d of %d, local rank %d, launcher %s, node %s, sum %g (expected %g), "
              "args [%s]\n",
              ok ? "passed" : "FAILED", world.rank(), world.size(), runtime.launch().local_rank,
              runtime.launch().launcher.c_str(), node ? node : "-", x[0].item<double>(), expected,
              join(args, " ").c_str());
  std::fflush(stdout);
  return static_cast<int>(world.all_reduce_int(ok ? 0 : 1, dist::ReduceOp::max));
}

int fail_on_rank_one(dist::DistributedRuntime& runtime) {
  if (runtime.world().rank() == 1) fail("deliberate failure on rank 1 (mpi_job_helper throw)");
  runtime.world().barrier();  // never completes: rank 1 is gone
  return 0;
}

int stall_rank_one(dist::DistributedRuntime& runtime) {
  if (runtime.world().rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
  at::Tensor x = at::ones({16});
  runtime.world().all_reduce(x, dist::ReduceOp::sum);
  return 0;
}

int wait_for_preemption(dist::DistributedRuntime& runtime) {
  auto& world = runtime.world();
  const char* restarts = std::getenv("SLURM_RESTART_COUNT");
  if (restarts && std::atoi(restarts) > 0) {
    std::printf("rank %d: resumed after requeue (restart %s)\n", world.rank(), restarts);
    std::fflush(stdout);
    world.barrier();
    return 0;
  }
  dist::install_preemption_handler();
  std::printf("rank %d: waiting for the preemption signal\n", world.rank());
  std::fflush(stdout);
  for (int step = 0; step < 600; ++step) {
    if (dist::preemption_requested(world)) {
      std::printf("rank %d: stopping at step %d after the preemption signal (received here: %s)\n", world.rank(),
                  step, dist::preemption_signalled() ? "yes" : "no");
      std::fflush(stdout);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("rank %d: no preemption signal within 60 s\n", world.rank());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto launch = detect_launch_environment();
  logging::init(launch.rank, launch.world_size);
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string mode = args.empty() ? "check" : args[0];
  if (!args.empty()) args.erase(args.begin());

  DistributedConfig config;
  if (mode == "timeout") config.timeout_seconds = args.empty() ? 2.0 : std::atof(args[0].c_str());
  try {
    dist::DistributedRuntime runtime(config, launch);
    return runtime.run([&] {
      if (mode == "check") return check(runtime, args);
      if (mode == "throw") return fail_on_rank_one(runtime);
      if (mode == "timeout") return stall_rank_one(runtime);
      if (mode == "preempt") return wait_for_preemption(runtime);
      fail("mpi_job_helper: unknown mode '{}'; expected check, throw, timeout or preempt", mode);
    });
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    if (!e.hint().empty()) spdlog::error("---> HINT: {}", e.hint());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}

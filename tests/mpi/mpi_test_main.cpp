// main() for the MPI test binary (run as `mpiexec -n 2 mpi_tests`, or `srun --mpi=pmix -n 2 mpi_tests`).
// Starts the distributed runtime once (MPI, world communicator with a collective watchdog, so a test that
// desynchronises the ranks aborts within a minute instead of hanging), silences every rank's printer but
// rank 0's, and all-reduces the outcome so that every rank exits non-zero when any rank failed a test.
#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "common/log.h"
#include "distributed/launch_environment.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla::mpi_test {
namespace {
dist::DistributedRuntime* g_runtime = nullptr;
}
dist::DistributedRuntime& runtime() { return *g_runtime; }
dist::Communicator& world() { return g_runtime->world(); }
}  // namespace mha2mla::mpi_test

int main(int argc, char** argv) {
  using namespace mha2mla;
  ::testing::InitGoogleTest(&argc, argv);
  auto launch = detect_launch_environment();
  logging::init(launch.rank, launch.world_size, "warn");

  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int failed = 0;
  {
    DistributedConfig config;
    config.timeout_seconds = 60;
    dist::DistributedRuntime runtime(config, launch);
    mpi_test::g_runtime = &runtime;
    int rank = runtime.world().rank();
    if (rank != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
    }
    int local_failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
    failed = static_cast<int>(runtime.world().all_reduce_int(local_failed, dist::ReduceOp::max));
    if (local_failed) std::fprintf(stderr, "rank %d: some MPI tests failed on this rank\n", rank);
    mpi_test::g_runtime = nullptr;
  }
  MPI_Finalize();
  return failed;
}

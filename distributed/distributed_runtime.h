// One per process: starts MPI (when launched by mpirun/srun), builds the world communicator and the DP x TP
// grid, logs who is who, and makes failures end the whole job promptly:
//   - an exception on any rank: that rank logs its message (with its rank) and calls MPI_Abort, so the other
//     ranks do not wait forever inside a collective;
//   - a collective waiting longer than distributed.timeout_seconds: the watchdog logs the collective, group
//     and rank, then aborts the job (exit code 124, as timeout(1));
//   - destruction during stack unwinding aborts instead of calling MPI_Finalize (which would wait for the
//     other ranks, who wait for us).
// Without a launcher (plain `mha2mla train ...`) it uses the single-process communicator and never touches MPI.
//
//   DistributedRuntime runtime(recipe.distributed, detect_launch_environment());
//   return runtime.run([&] { train(recipe, runtime.grid()); return 0; });
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "distributed/collective_watchdog.h"
#include "distributed/communicator.h"
#include "distributed/distributed_config.h"
#include "distributed/grid.h"
#include "distributed/launch_environment.h"

namespace mha2mla::dist {

constexpr int kExitFailure = 1;   // an exception on some rank
constexpr int kExitTimeout = 124; // a collective timed out

class DistributedRuntime {
 public:
  DistributedRuntime(const DistributedConfig& config, const LaunchEnvironment& launch);
  ~DistributedRuntime();
  DistributedRuntime(const DistributedRuntime&) = delete;
  DistributedRuntime& operator=(const DistributedRuntime&) = delete;

  // Runs `body`; an exception escaping it on any rank ends the whole job (see above). With one process the
  // exception is rethrown, so the caller reports it as usual.
  int run(const std::function<int()>& body);

  // Logs `message` tagged with this rank and ends every rank of the job with `exit_code`.
  [[noreturn]] void abort_job(const std::string& message, int exit_code = kExitFailure);

  Communicator& world() const { return *world_; }
  ProcessGrid& grid() const { return *grid_; }
  const LaunchEnvironment& launch() const { return launch_; }
  bool multi_process() const { return world_->size() > 1; }
  // Whether this object called MPI_Init (and so will call MPI_Finalize).
  bool owns_mpi() const { return owns_mpi_; }

  // "mpirun: rank 1 of 2 (local 1 of 2) on host, backend mpi, world 2 = dp 2 x tp 1 (...), timeout 300 s".
  std::string describe() const;

 private:
  void start_mpi();
  void log_ranks() const;

  DistributedConfig config_;
  LaunchEnvironment launch_;
  bool owns_mpi_ = false;
  bool uses_mpi_ = false;
  std::shared_ptr<CollectiveWatchdog> watchdog_;
  std::shared_ptr<Communicator> world_;
  std::unique_ptr<ProcessGrid> grid_;
};

// The world communicator for `backend` (auto, mpi, nccl) over MPI_COMM_WORLD; MPI must be initialised.
// `local_rank` picks the GPU for NCCL.
std::unique_ptr<Communicator> make_world_communicator(const std::string& backend, int local_rank,
                                                      std::shared_ptr<CollectiveWatchdog> watchdog);

}  // namespace mha2mla::dist

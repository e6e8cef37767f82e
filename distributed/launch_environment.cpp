#include "distributed/launch_environment.h"

#include <cstdlib>

#include <fmt/format.h>

namespace mha2mla {
namespace {

bool read_int(const char* name, int& out) {
  const char* value = std::getenv(name);
  if (!value || !*value) return false;
  char* end = nullptr;
  long parsed = std::strtol(value, &end, 10);
  if (*end != '\0') return false;
  out = static_cast<int>(parsed);
  return true;
}

std::string read_string(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

}  // namespace

std::string LaunchEnvironment::describe() const {
  std::string out = fmt::format("{}: rank {} of {} (local {} of {})", launcher, rank, world_size, local_rank, local_size);
  if (!job_id.empty()) out += fmt::format(", Slurm job {} on {}", job_id, node_list);
  return out;
}

LaunchEnvironment detect_launch_environment() {
  LaunchEnvironment env;
  env.node_list = read_string("SLURM_JOB_NODELIST");
  env.job_id = read_string("SLURM_JOB_ID");
  if (read_int("OMPI_COMM_WORLD_RANK", env.rank)) {
    // mpirun (also srun --mpi=pmix with Open MPI, which sets these too).
    env.launcher = std::getenv("SLURM_STEP_ID") ? "slurm" : "mpirun";
    read_int("OMPI_COMM_WORLD_SIZE", env.world_size);
    read_int("OMPI_COMM_WORLD_LOCAL_RANK", env.local_rank);
    read_int("OMPI_COMM_WORLD_LOCAL_SIZE", env.local_size);
  } else if (read_int("SLURM_PROCID", env.rank) && std::getenv("SLURM_STEP_ID")) {
    env.launcher = "slurm";
    read_int("SLURM_NTASKS", env.world_size);
    read_int("SLURM_LOCALID", env.local_rank);
    if (!read_int("SLURM_NTASKS_PER_NODE", env.local_size)) {
      // SLURM_TASKS_PER_NODE looks like "2(x3),1"; the first count is this node's for uniform layouts.
      std::string tasks = read_string("SLURM_TASKS_PER_NODE");
      env.local_size = tasks.empty() ? 1 : std::atoi(tasks.c_str());
    }
  } else if (read_int("PMIX_RANK", env.rank)) {
    env.launcher = "pmix";
    env.world_size = 0;  // known only after MPI_Init
  } else {
    env.rank = 0;
  }
  if (env.world_size < 1) env.world_size = 1;
  if (env.local_size < 1) env.local_size = 1;
  return env;
}

}  // namespace mha2mla

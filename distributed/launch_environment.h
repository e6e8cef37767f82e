// Who launched us: mpirun (OMPI_COMM_WORLD_*), srun --mpi=pmix (SLURM_* / PMIX_RANK) or a plain process.
// Read from the environment before MPI starts, so logging knows its rank from the first line.
#pragma once

#include <string>

namespace mha2mla {

struct LaunchEnvironment {
  std::string launcher = "single";  // "mpirun", "slurm", "pmix" or "single"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string node_list;            // SLURM_JOB_NODELIST when under Slurm
  std::string job_id;               // SLURM_JOB_ID when under Slurm

  std::string describe() const;     // "mpirun: rank 1 of 2 (local 1 of 2)"
};

LaunchEnvironment detect_launch_environment();

}  // namespace mha2mla

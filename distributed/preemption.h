// Preemption: Slurm warns a job before its time limit or a preemption (`#SBATCH --signal=B:USR1@120` in
// launch/slurm/train.sbatch, which forwards SIGUSR1 to every task). The handler only records the signal; the
// training loop asks `preemption_requested(world)` at step boundaries, a collective, so that every rank stops
// at the same step, writes its checkpoint and exits 0, and the batch script requeues the job.
#pragma once

#include "distributed/communicator.h"

namespace mha2mla::dist {

// Installs the SIGUSR1 handler (idempotent). SIGTERM is left alone: it must still end the process.
void install_preemption_handler();

// Whether this process received SIGUSR1 since install (no communication).
bool preemption_signalled();

// Collective over `group`: true on every rank when any rank received the signal.
bool preemption_requested(Communicator& group);

}  // namespace mha2mla::dist

// Preemption: Slurm warns a job before its time limit or a preemption (`#SBATCH --signal=B:USR1@120` in
// launch/slurm/train.sbatch, which forwards SIGUSR1 to every task). The handler only records the signal; the
// training loop asks `preemption_requested(world)` at step boundaries, a collective, so that every rank stops
// at the same step, writes its checkpoint and exits 0, and the batch script requeues the job.
#pragma once

#include "distributed/communicator.h"

namespace mha2mla::dist {

// Installs handlers for SIGUSR1 and SIGTERM (idempotent). The first signal is only recorded, so the job stops at
// the next step boundary with a checkpoint; a second SIGTERM ends the process at once (default action), so a
// stuck job can still be terminated.
void install_preemption_handler();

// Whether this process received SIGUSR1 or SIGTERM since install (no communication).
bool preemption_signalled();

// The signal's name ("SIGUSR1", "SIGTERM"), or "" when none arrived.
const char* preemption_signal_name();

// Collective over `group`: true on every rank when any rank received the signal.
bool preemption_requested(Communicator& group);

}  // namespace mha2mla::dist

#!/usr/bin/env bash
# Slurm checks against the local cluster that a ctest fixture started (SLURM_CONF in the environment).
#   slurm_job_test.sh srun-check     HELPER            srun --mpi=pmix -n 2 on one node
#   slurm_job_test.sh srun-without-pmix HELPER         srun --mpi=none: a clear refusal naming the fix
#   slurm_job_test.sh sbatch-check   SBATCH HELPER DIR launch/slurm/train.sbatch across nodes n1 and n2
#   slurm_job_test.sh sbatch-failure SBATCH HELPER DIR a rank that throws fails the job, with its message
#   slurm_job_test.sh sbatch-preempt SBATCH HELPER DIR SIGUSR1 warning -> clean stop -> requeue -> resume
# HELPER is tests/mpi/mpi_job_helper (the launchers run it in place of mha2mla through MHA2MLA_BINARY).
# Jobs are followed by polling squeue/scontrol (sbatch --wait would add ~10 s of its own polling).
set -uo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ -n ${SLURM_CONF:-} && -f $SLURM_CONF ]] || fail "SLURM_CONF is not set to a cluster's slurm.conf (the fixture did not run?)"

# job_field JOB FIELD: a field of `scontrol show job` (kept MinJobAge=300 s after the job ends).
job_field() { scontrol show job "$1" 2>/dev/null | grep -oE "(^| )$2=[^ ]*" | head -n1 | cut -d= -f2-; }

# wait_for_job JOB SECONDS: until the job has left squeue's running/pending states; prints its final state.
wait_for_job() {
  local job=$1 limit=$2 state
  for _ in $(seq 1 $((limit * 10))); do
    state=$(job_field "$job" JobState)
    case $state in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)
        [[ -z $(squeue -h -j "$job" 2>/dev/null) ]] && { echo "$state"; return 0; } ;;
    esac
    sleep 0.1
  done
  scancel "$job" 2>/dev/null
  echo "STILL_${state:-UNKNOWN}"
}

submit() {
  local sbatch_file=$1 helper=$2 dir=$3 mode=$4
  shift 4
  mkdir -p "$dir"
  rm -f "$dir"/*.out
  # The template asks for 8 GPUs per node; the local cluster has none (command-line options override #SBATCH).
  (cd "$dir" && MHA2MLA_BINARY=$helper MHA2MLA_COMMAND=$mode sbatch --parsable --nodes=2 --ntasks-per-node=1 \
    --cpus-per-task=1 --gpus-per-node=0 --time=5 --job-name="test-$mode" "$sbatch_file" recipe.yaml "$@")
}

case ${1:-} in
  srun-check)
    helper=$2
    output=$(timeout 60 srun --mpi=pmix -n 2 "$helper" check one two=2 2>&1)
    status=$?
    echo "$output"
    [[ $status -eq 0 ]] || fail "srun exited $status"
    for rank in 0 1; do
      grep -Eq "collective check passed: rank $rank of 2, local rank $rank, launcher slurm, .*args \[one two=2\]" \
        <<<"$output" || fail "no passing check line from rank $rank"
    done
    ;;

  srun-without-pmix)
    helper=$2
    output=$(timeout 60 srun --mpi=none -n 2 "$helper" check 2>&1)
    status=$?
    echo "$output"
    [[ $status -ne 0 ]] || fail "srun --mpi=none exited 0; the tasks should refuse to start"
    grep -q "srun started this task with --mpi=none, without PMIx" <<<"$output" || fail "no message naming --mpi=none"
    grep -q "HINT: launch with \`srun --mpi=pmix" <<<"$output" || fail "no hint naming srun --mpi=pmix"
    ;;

  sbatch-check)
    sbatch_file=$2 helper=$3 dir=$4
    job=$(submit "$sbatch_file" "$helper" "$dir" check train.lr=1e-5) || fail "sbatch failed"
    state=$(wait_for_job "$job" 60)
    log=$(cat "$dir"/*.out 2>/dev/null)
    echo "$log"
    [[ $state == COMPLETED ]] || fail "job $job ended $state, expected COMPLETED"
    [[ $(job_field "$job" ExitCode) == 0:0 ]] || fail "job $job exit code $(job_field "$job" ExitCode), expected 0:0"
    grep -Eq "rank 0 of 2, local rank 0, launcher slurm, node n1, sum 3 .*args \[recipe.yaml train.lr=1e-5\]" \
      <<<"$log" || fail "no passing check from rank 0 on node n1 with the recipe and override"
    grep -Eq "rank 1 of 2, local rank 0, launcher slurm, node n2, sum 3" <<<"$log" || fail "no passing check from rank 1 on node n2"
    grep -q "step finished with exit status 0" <<<"$log" || fail "the batch script did not report the step's status"
    ;;

  sbatch-failure)
    sbatch_file=$2 helper=$3 dir=$4
    start=$(date +%s)
    job=$(submit "$sbatch_file" "$helper" "$dir" throw) || fail "sbatch failed"
    state=$(wait_for_job "$job" 60)
    elapsed=$(($(date +%s) - start))
    log=$(cat "$dir"/*.out 2>/dev/null)
    echo "$log"
    echo "--- job $job: $state, exit code $(job_field "$job" ExitCode), ${elapsed} s"
    [[ $state == FAILED ]] || fail "job $job ended $state, expected FAILED"
    [[ $(job_field "$job" ExitCode) != 0:0 ]] || fail "job $job exit code 0:0, expected non-zero"
    grep -q "rank 1 of 2 failed: deliberate failure on rank 1" <<<"$log" || fail "rank 1's message is not in the job log"
    [[ $elapsed -le 30 ]] || fail "the failed job took ${elapsed} s to end; rank 0 should not wait in its barrier"
    ;;

  sbatch-preempt)
    sbatch_file=$2 helper=$3 dir=$4
    job=$(submit "$sbatch_file" "$helper" "$dir" preempt) || fail "sbatch failed"
    for _ in $(seq 1 300); do
      [[ $(cat "$dir"/*.out 2>/dev/null | grep -c "waiting for the preemption signal") -eq 2 ]] && break
      sleep 0.1
    done
    # What Slurm does 120 s before the time limit (--signal=B:USR1@120): signal the batch shell only.
    scancel --batch --signal=USR1 "$job" || fail "could not signal job $job"
    state=$(wait_for_job "$job" 90)
    log=$(cat "$dir"/*.out 2>/dev/null)
    echo "$log"
    [[ $state == COMPLETED ]] || fail "job $job ended $state, expected COMPLETED after its requeue"
    [[ $(job_field "$job" Restarts) == 1 ]] || fail "job $job restarted $(job_field "$job" Restarts) times, expected 1"
    for rank in 0 1; do
      grep -q "rank $rank: stopping at step [0-9]* after the preemption signal (received here: yes)" <<<"$log" ||
        fail "rank $rank did not stop on the forwarded signal"
      grep -q "rank $rank: resumed after requeue (restart 1)" <<<"$log" || fail "rank $rank did not run again after the requeue"
    done
    grep -q "requeueing job $job" <<<"$log" || fail "the batch script did not requeue the job"
    ;;

  *)
    sed -n '2,9p' "$0" >&2
    exit 2
    ;;
esac
echo "PASS"

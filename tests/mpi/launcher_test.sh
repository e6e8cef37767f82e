#!/usr/bin/env bash
# launch/mpirun.sh end to end: runs HELPER (tests/mpi/mpi_job_helper, in place of mha2mla) on 2 ranks and checks
# that every rank got the command, the recipe and the overrides; then checks the refusals and the root flags.
#   launcher_test.sh SOURCE_DIR HELPER
set -uo pipefail
source_dir=$1 helper=$2
launcher=$source_dir/launch/mpirun.sh
recipe=$source_dir/tests/data/distributed/launcher_recipe.yaml
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

output=$(MHA2MLA_BINARY=$helper MHA2MLA_COMMAND=check timeout 60 "$launcher" -n 2 "$recipe" train.lr=1e-5 a.b=c 2>&1)
status=$?
echo "$output"
[[ $status -eq 0 ]] || fail "launch/mpirun.sh exited $status"
for rank in 0 1; do
  grep -Eq "collective check passed: rank $rank of 2, local rank $rank, launcher mpirun, .*args \[$recipe train.lr=1e-5 a.b=c\]" \
    <<<"$output" || fail "rank $rank did not run 'check RECIPE overrides'"
done

dry=$(NP=3 MHA2MLA_BINARY=$helper "$launcher" --dry-run "$recipe" 2>&1) || fail "--dry-run failed: $dry"
echo "$dry"
grep -q -- "-n 3 --bind-to none" <<<"$dry" || fail "NP=3 did not give -n 3 with --bind-to none"
grep -q -- "--oversubscribe" <<<"$dry" || fail "no --oversubscribe without a hostfile"
grep -q -- " train $recipe" <<<"$dry" || fail "the default command is not train"
if [[ $(id -u) -eq 0 ]]; then grep -q -- "--allow-run-as-root" <<<"$dry" || fail "root without --allow-run-as-root"; fi

env -u NP "$launcher" "$recipe" >/dev/null 2>&1 && fail "no rank count: should refuse"
"$launcher" -n 2 "$source_dir/no/such/recipe.yaml" >/dev/null 2>&1 && fail "missing recipe: should refuse"
"$launcher" -n 2 "$recipe" not-an-override >/dev/null 2>&1 && fail "bad override: should refuse"
echo PASS

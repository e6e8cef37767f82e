# Shared by the end-to-end tests: a fresh scratch folder, the binary, MPI-as-root settings, and assertions.
set -euo pipefail
MHA2MLA=${MHA2MLA_BINARY:-build/mha2mla}
SCRATCH=${MHA2MLA_E2E_SCRATCH:-/tmp/mha2mla-e2e-$$}
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -np 2)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

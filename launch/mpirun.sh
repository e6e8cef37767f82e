#!/usr/bin/env bash
# Runs mha2mla on N ranks of this machine (or of a hostfile's machines) with Open MPI's mpirun.
#
#   launch/mpirun.sh -n 2 recipes/tiny.yaml train.steps=10
#   NP=4 MHA2MLA_COMMAND=calibrate launch/mpirun.sh recipes/x.yaml
#   launch/mpirun.sh -n 16 --hostfile hosts.txt recipes/x.yaml distributed.tensor_parallel=8
#
# Options (before RECIPE):
#   -n N, --np N      number of ranks (default: $NP; one of the two is required)
#   --hostfile FILE   machines to run on (Open MPI hostfile); without it every rank runs here
#   --dry-run         print the mpirun command instead of running it
# Environment:
#   MHA2MLA_COMMAND    mha2mla command to run: train (default), calibrate, convert, eval, ...
#   MHA2MLA_BINARY     the mha2mla executable (default: mha2mla on PATH, else build/mha2mla of this checkout)
#   OMP_NUM_THREADS    intra-op threads per rank (default: cores / ranks on this machine, at least 1)
#   MHA2MLA_MPIRUN_ARGS  extra mpirun arguments, split on spaces
#
# As root, Open MPI refuses to start without --allow-run-as-root; this script adds it (and the matching
# environment variables). Ranks are not bound to cores (--bind-to none), since each rank runs several threads;
# more ranks than cores are allowed here (--oversubscribe) when no hostfile is given.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "launch/mpirun.sh: $*" >&2
  exit 2
}

np=${NP:-}
hostfile=
dry_run=0
while [[ $# -gt 0 ]]; do
  case $1 in
    -n|-np|--np) [[ $# -ge 2 ]] || die "$1 needs a number of ranks"; np=$2; shift 2 ;;
    --np=*) np=${1#--np=}; shift ;;
    --hostfile) [[ $# -ge 2 ]] || die "--hostfile needs a file"; hostfile=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (options go before RECIPE; see --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || die "missing RECIPE; usage: launch/mpirun.sh -n N RECIPE [key=value ...]"
recipe=$1
shift
[[ -n $np ]] || die "how many ranks? pass -n N (or set NP=N)"
[[ $np =~ ^[1-9][0-9]*$ ]] || die "the number of ranks must be a positive integer, found '$np'"
[[ -f $recipe ]] || die "recipe '$recipe' not found"
[[ -z $hostfile || -f $hostfile ]] || die "hostfile '$hostfile' not found"
for override in "$@"; do
  [[ $override == *=* ]] || die "'$override' is not a key=value override (RECIPE must come first)"
done

command_name=${MHA2MLA_COMMAND:-train}
binary=${MHA2MLA_BINARY:-}
if [[ -z $binary ]]; then
  if command -v mha2mla >/dev/null; then
    binary=$(command -v mha2mla)
  elif [[ -x $here/../build/mha2mla ]]; then
    binary=$(cd "$here/../build" && pwd)/mha2mla
  else
    die "no mha2mla executable: put it on PATH, build it into build/, or set MHA2MLA_BINARY"
  fi
fi
[[ -x $binary ]] || die "MHA2MLA_BINARY '$binary' is not an executable file"

cores=$(nproc)
ranks_here=$np
[[ -n $hostfile ]] && ranks_here=$(( (np + 1) / 2 ))  # unknown placement; a guess only used for threads
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / ranks_here > 0 ? cores / ranks_here : 1 ))}

args=(-n "$np" --bind-to none)
if [[ $(id -u) -eq 0 ]]; then
  args+=(--allow-run-as-root)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [[ -n $hostfile ]]; then
  args+=(--hostfile "$hostfile")
else
  args+=(--oversubscribe)
fi
# Ranks on other machines get these from mpirun (local ranks inherit the whole environment anyway).
for variable in OMP_NUM_THREADS $(compgen -e | grep -E '^(MHA2MLA_|NCCL_|CUDA_VISIBLE_DEVICES$)' || true); do
  args+=(-x "$variable")
done
if [[ -n ${MHA2MLA_MPIRUN_ARGS:-} ]]; then
  read -r -a extra <<<"$MHA2MLA_MPIRUN_ARGS"
  args+=("${extra[@]}")
fi

full=(mpirun "${args[@]}" "$binary" "$command_name" "$recipe" "$@")
echo "+ ${full[*]}" >&2
if [[ $dry_run -eq 1 ]]; then
  exit 0
fi
exec "${full[@]}"

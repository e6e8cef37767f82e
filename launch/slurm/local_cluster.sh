#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for tests and for trying the Slurm launchers: munged + slurmctld +
# slurmd (one node named after this host, or two emulated nodes n1/n2), every file under STATE_DIR, no systemd.
#
#   launch/slurm/local_cluster.sh start  [--nodes 1|2] STATE_DIR   # returns once sinfo shows the nodes idle
#   launch/slurm/local_cluster.sh status STATE_DIR
#   launch/slurm/local_cluster.sh stop   STATE_DIR                 # cancels jobs, stops daemons by pid file
#
# Then: source STATE_DIR/env.sh (exports SLURM_CONF) and use sinfo, srun --mpi=pmix, sbatch, squeue, scancel.
# Needs root (SlurmUser=root) and three free consecutive ports (slurmctld, then one slurmd per node): Slurm's
# defaults 6817-6819 when free, else the next free run up to 6916, so that two clusters (two test runs) can coexist.
# The daemons come from Debian's slurmctld, slurmd, slurm-client and munge packages (installed when missing).
set -euo pipefail

CTLD_PORT=6817         # chosen by pick_ports at start
FIRST_SLURMD_PORT=6818

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "local_cluster.sh: $*" >&2
  exit 1
}

action=${1:-}
[[ -n $action ]] || usage
shift
nodes=1
state_dir=
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) nodes=${2:?--nodes needs 1 or 2}; shift 2 ;;
    --nodes=*) nodes=${1#--nodes=}; shift ;;
    -h|--help) usage ;;
    -*) die "unknown option '$1'" ;;
    *) [[ -z $state_dir ]] || die "more than one STATE_DIR given ('$state_dir', '$1')"; state_dir=$1; shift ;;
  esac
done
[[ -n $state_dir ]] || usage
[[ $nodes == 1 || $nodes == 2 ]] || die "--nodes must be 1 or 2, found '$nodes'"
mkdir -p "$state_dir"
R=$(cd "$state_dir" && pwd)
export SLURM_CONF=$R/slurm.conf

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
node_names() {
  if [[ -f $R/nodes ]]; then cat "$R/nodes"; fi
}

ensure_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v sinfo >/dev/null || missing+=(slurm-client)
  [[ ${#missing[@]} -eq 0 ]] && return
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "local_cluster.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      die "could not install ${missing[*]}; run: apt-get update && apt-get install slurmctld slurmd slurm-client munge"
  else
    die "missing ${missing[*]}; install Debian's slurmctld slurmd slurm-client munge"
  fi
}

write_config() {
  local host=$1 cpus memory_mb
  cpus=$(nproc)
  # slurmd refuses a node whose RealMemory exceeds what it detects; claim half of it, which jobs never check.
  memory_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
  cat >"$R/slurm.conf" <<CONF
# Written by launch/slurm/local_cluster.sh: a $nodes-node cluster on $host, all state under $R.
ClusterName=mha2mla-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s); short keeps the requeue test short.
AuthInfo=socket=$R/munge/munge.socket,cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool-%n
TmpFS=$R/tmp-%n
SlurmctldPidFile=$R/slurmctld.pid
SlurmdPidFile=$R/slurmd-%n.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd-%n.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PlugStackConfig=$R/plugstack.conf
MailProg=/bin/true
MinJobAge=300
KillWait=5
InactiveLimit=0
# Test every pending job every second: a requeued job becomes eligible without waiting for a 30-60 s pass.
SchedulerParameters=sched_interval=1,bf_interval=1
CONF
  if [[ $nodes == 1 ]]; then
    echo "NodeName=$host NodeAddr=127.0.0.1 Port=$FIRST_SLURMD_PORT CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN" >>"$R/slurm.conf"
    echo "PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP" >>"$R/slurm.conf"
    echo "$host" >"$R/nodes"
  else
    # Two emulated nodes on one host: same hostname, distinct names and ports (slurmd -N picks its entry).
    for i in 1 2; do
      echo "NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((FIRST_SLURMD_PORT + i - 1)) CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN" >>"$R/slurm.conf"
    done
    echo "PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP" >>"$R/slurm.conf"
    printf 'n1\nn2\n' >"$R/nodes"
  fi
}

# The first run of three free ports from 6817 (slurmctld, slurmd of n1, slurmd of n2).
pick_ports() {
  local base
  for ((base = 6817; base + 2 <= 6916; base += 3)); do
    if ! port_busy "$base" && ! port_busy $((base + 1)) && ! port_busy $((base + 2)); then
      CTLD_PORT=$base
      FIRST_SLURMD_PORT=$((base + 1))
      return
    fi
  done
  die "no three free consecutive ports between 6817 and 6916 (other Slurm clusters?); stop one" \
    "(local_cluster.sh stop ITS_STATE_DIR) or find the owners with: ss -ltnp | grep ':68'"
}

start() {
  [[ $(id -u) -eq 0 ]] || die "start needs root (the cluster runs with SlurmUser=root)"
  ensure_packages
  if pid_alive "$R/slurmctld.pid"; then
    echo "local_cluster.sh: a cluster is still running from $R (left by an interrupted run?); restarting it" >&2
    stop
  fi
  pick_ports

  local host
  host=$(hostname -s)
  rm -rf "$R/state" "$R"/spool-* "$R"/tmp-* "$R/log" "$R/munge"
  mkdir -p "$R/munge" "$R/state" "$R/log"
  write_config "$host"
  : >"$R/plugstack.conf"  # no SPANK plugins (a file in a world-writable folder such as /dev draws a warning)
  while read -r node; do mkdir -p "$R/spool-$node" "$R/tmp-$node"; done < <(node_names)

  head -c 1024 /dev/urandom >"$R/munge/munge.key"
  chmod 400 "$R/munge/munge.key"
  munged --force --socket="$R/munge/munge.socket" --key-file="$R/munge/munge.key" \
    --pid-file="$R/munge/munged.pid" --log-file="$R/log/munged.log" --seed-file="$R/munge/munged.seed" ||
    die "munged did not start; see $R/log/munged.log"

  slurmctld -f "$SLURM_CONF" || die "slurmctld did not start; see $R/log/slurmctld.log"
  if [[ $nodes == 1 ]]; then
    slurmd -f "$SLURM_CONF" -N "$host" || die "slurmd did not start; see $R/log/slurmd-$host.log"
  else
    for node in n1 n2; do
      slurmd -f "$SLURM_CONF" -N "$node" || die "slurmd $node did not start; see $R/log/slurmd-$node.log"
    done
  fi
  cat >"$R/env.sh" <<ENV
# source this to talk to the local cluster in $R
export SLURM_CONF=$SLURM_CONF
ENV

  # Ready when every node reports idle.
  local want idle
  want=$(node_names | wc -l)
  for _ in $(seq 1 300); do
    idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 == "idle"' | sort -u | wc -l || true)
    if [[ $idle -eq $want ]]; then
      echo "local Slurm cluster up: $want node(s) idle ($(node_names | paste -sd, -)), slurmctld on port $CTLD_PORT;" \
        "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.1
  done
  sinfo -N >&2 || true
  tail -n 20 "$R"/log/*.log >&2 || true
  stop_daemons
  die "the nodes did not become idle within 30 s (logs above, in $R/log)"
}

# Each daemon takes one to two seconds to exit after SIGTERM: signal them all, then wait for all (10 s at most,
# then SIGKILL).
stop_daemons() {
  local files=("$R"/slurmd-*.pid "$R/slurmctld.pid" "$R/munge/munged.pid") pids=() file pid
  for file in "${files[@]}"; do
    [[ -f $file ]] || continue
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$file"
  done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

stop() {
  if pid_alive "$R/slurmctld.pid"; then
    # Jobs first, so that no slurmstepd (and no task) outlives its slurmd.
    scancel --full --quiet --partition=debug 2>/dev/null || true
    for _ in $(seq 1 100); do
      [[ -z $(squeue -h -t running,completing,pending 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  stop_daemons
  echo "local Slurm cluster in $R stopped"
}

status() {
  local running=0
  for file in "$R/munge/munged.pid" "$R/slurmctld.pid" "$R"/slurmd-*.pid; do
    [[ -f $file ]] || continue
    if pid_alive "$file"; then
      echo "$(basename "$file" .pid): running (pid $(cat "$file"))"
      running=1
    else
      echo "$(basename "$file" .pid): not running (stale pid file)"
    fi
  done
  if [[ $running -eq 0 ]]; then
    echo "no local Slurm cluster running from $R"
    return 3
  fi
  pid_alive "$R/slurmctld.pid" && sinfo -N
}

case $action in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac

#!/bin/bash
# make test-slurm: a real single-node Slurm cluster (Debian's slurm-wlm 22.05 and munge) in a
# temporary folder, a coordinator running a fast-mode study, and the worker array script of
# deploy/slurm/ submitted with sbatch. Passes when the study completes through the
# Slurm-launched workers alone. Everything started here is stopped on exit.
#
#   tests/slurm/run.sh BIN_DIR        (as root: it installs packages and runs the daemons)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(cd "${1:-$here/build/bin}" && pwd)"
budget=12
tasks=3

log() { echo "test-slurm: $*"; }
fail() { echo "test-slurm: FAILED: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then fail "needs root (it runs slurmctld, slurmd and munged)"; fi
missing=""
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    log "installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

tmp="$(mktemp -d /tmp/autopeft-slurm.XXXXXX)"
chmod 755 "$tmp"
pids=()
cleanup() {
    set +e
    if [ -n "${jobid:-}" ]; then
        SLURM_CONF="$tmp/slurm.conf" scancel --quiet "$jobid" 2>/dev/null
        for _ in $(seq 50); do
            [ -z "$(SLURM_CONF="$tmp/slurm.conf" squeue -h -j "$jobid" 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    for f in "$tmp"/coordinator.pid "$tmp"/slurmd.pid "$tmp"/slurmctld.pid "$tmp"/munged.pid; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 1
    for f in "$tmp"/coordinator.pid "$tmp"/slurmd.pid "$tmp"/slurmctld.pid "$tmp"/munged.pid; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Ports nobody listens on now (a random pick, checked by trying to connect).
free_port() {
    local p
    while :; do
        p=$(shuf -i 20000-60000 -n 1)
        (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
ctld_port=$(free_port); slurmd_port=$(free_port)
node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)

# munge: a key of our own and a socket in the temporary folder.
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/jobs"
chmod 700 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
    --pid-file="$tmp/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/seed"
for _ in $(seq 50); do [ -S "$tmp/munge/socket" ] && break; sleep 0.1; done
[ -S "$tmp/munge/socket" ] || fail "munged did not start: $(cat "$tmp/munge/munged.log" 2>/dev/null)"

cat >"$tmp/slurm.conf" <<CONF
ClusterName=autopeft-test
SlurmctldHost=$node
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
cat >"$tmp/cgroup.conf" <<CONF
CgroupPlugin=cgroup/v1
ConstrainCores=no
ConstrainDevices=no
ConstrainRAMSpace=no
ConstrainSwapSpace=no
CONF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -i
slurmd -N "$node"
for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'; then break; fi
    sleep 0.2
done
sinfo -h -o '%T' | grep -qE '^(idle|mixed)' ||
    fail "the node did not come up: $(sinfo 2>&1); $(tail -n 5 "$tmp/slurmctld.log" "$tmp/slurmd.log")"
log "single-node cluster up ($node, $cpus CPUs, slurmctld :$ctld_port, slurmd :$slurmd_port)"

# The study: fast mode, loopback (this is one node), a published endpoint.
study="$tmp/study"
cat >"$tmp/study.conf" <<CONF
[study]
name = slurm
mode = synthetic
budget = $budget
n_init = 4
[synthetic]
duration_ms = 300
[search]
surrogate = random
[network]
bind = tcp://127.0.0.1:0
heartbeat_interval_ms = 200
CONF
"$bin/autopeft-coordinator" --study "$study" --config "$tmp/study.conf" --linger 5 \
    >"$tmp/coordinator.log" 2>&1 &
echo $! >"$tmp/coordinator.pid"
for _ in $(seq 100); do [ -s "$study/endpoint" ] && break; sleep 0.1; done
[ -s "$study/endpoint" ] || fail "no endpoint: $(cat "$tmp/coordinator.log")"

jobid=
jobid=$(cd "$tmp/jobs" && AUTOPEFT_STUDY="$study" AUTOPEFT_BIN="$bin" AUTOPEFT_IDLE_TIMEOUT=60 \
    AUTOPEFT_WORKER_ARGS="--backoff-max 1000" \
    sbatch --parsable --array=0-$((tasks - 1)) "$here/deploy/slurm/workers.sbatch")
log "submitted worker array job $jobid (tasks 0-$((tasks - 1)))"

coord=$(cat "$tmp/coordinator.pid")
for _ in $(seq 1200); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$coord" 2>/dev/null; then
    squeue >&2; tail -n 20 "$tmp/coordinator.log" >&2; cat "$tmp"/jobs/*.out >&2 2>/dev/null
    fail "the study did not finish in 120 s"
fi
wait "$coord" || fail "the coordinator failed: $(tail -n 20 "$tmp/coordinator.log")"

"$bin/autopeft" status "$study" >"$tmp/status.out" || fail "autopeft status failed"
grep -q "$budget of $budget searched: $budget done, 0 failed" "$tmp/status.out" ||
    fail "the study is not complete: $(cat "$tmp/status.out")"
grep -q "study 'slurm' finished: $budget done" "$tmp/coordinator.log" || fail "no finish line in the log"
registered=$(grep -c "registered (" "$tmp/coordinator.log" || true)
outs=$(ls "$tmp"/jobs/autopeft-worker-"${jobid}"_*.out 2>/dev/null | wc -l)
ran=$(grep -l "registered with coordinator" "$tmp"/jobs/autopeft-worker-"${jobid}"_*.out 2>/dev/null | wc -l)
[ "$ran" -ge 1 ] || fail "no Slurm worker registered: $(cat "$tmp"/jobs/*.out 2>/dev/null)"
[ "$registered" -ge 1 ] || fail "the coordinator saw no worker"
# Every worker the coordinator saw came from the array job (nothing else was started).
[ "$registered" -le "$tasks" ] || fail "$registered workers registered, only $tasks were submitted"
for _ in $(seq 100); do
    [ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ] && break
    sleep 0.2
done
[ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ] || fail "array tasks still queued or running after the study ended"
log "study of $budget trials completed by $ran Slurm array task(s) of $outs; the array job ended"
echo "1 passed, 0 failed"

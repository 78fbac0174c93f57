#!/bin/bash
# Starts the autopeft coordinator on the node you are logged in to (a head or login node that
# compute nodes can reach), in the background, and waits until it has published its endpoint.
#
#   deploy/slurm/head-node.sh /shared/runs/sst2 deploy/configs/sst2.conf [coordinator options]
#   AUTOPEFT_STUDY=/shared/runs/sst2 sbatch --array=0-15 deploy/slurm/workers.sbatch
#
# The log is STUDY/coordinator.log; stop it with `kill $(cat STUDY/coordinator.pid)` (the
# study can be resumed by running this again without the configuration).
set -euo pipefail
study="${1:?usage: head-node.sh STUDY_DIR [CONFIG] [coordinator options]}"
shift
config=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then config=(--config "$1"); shift; fi
bin="${AUTOPEFT_BIN:+$AUTOPEFT_BIN/}autopeft-coordinator"
mkdir -p "$study"
rm -f "$study/endpoint"
nohup "$bin" --study "$study" "${config[@]}" --publish-host "$(hostname -f 2>/dev/null || hostname)" \
    "$@" >>"$study/coordinator.log" 2>&1 &
echo $! >"$study/coordinator.pid"
for _ in $(seq 1 100); do
    if [ -s "$study/endpoint" ]; then
        echo "coordinator $(cat "$study/coordinator.pid") listening on $(head -n1 "$study/endpoint")"
        exit 0
    fi
    if ! kill -0 "$(cat "$study/coordinator.pid")" 2>/dev/null; then
        echo "the coordinator exited; see $study/coordinator.log:" >&2
        tail -n 5 "$study/coordinator.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "no endpoint after 20 s; see $study/coordinator.log" >&2
exit 1

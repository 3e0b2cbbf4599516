#!/usr/bin/env bash
# fetchpool's shards on a real scheduler: a private single-node Slurm (slurmctld + slurmd,
# munge for its authentication) on loopback with a throwaway configuration, a 4-task array
# job running `fetchpool --shard auto` against a loopback nginx, then checks that the shards'
# reports merge to exactly the list, every file is byte-identical, and no file was fetched
# twice; a second submission (what a scheduler's retry does) fetches nothing. Installs Slurm
# and munge (Debian packages) when missing. Needs root (slurmd runs the tasks as root here).
# Never skips: anything missing is a failure. Every daemon it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TASKS=4
FILES=40

fail() { echo "slurm-test: FAILED: $*" >&2; exit 1; }
log() { echo "slurm-test: $*" >&2; }

[ "$(id -u)" = 0 ] || fail "must run as root (a private slurmd runs the array's tasks)"

# --- tools -------------------------------------------------------------------------------
missing=()
[ -x /usr/sbin/slurmctld ] || missing+=(slurmctld)
[ -x /usr/sbin/slurmd ] || missing+=(slurmd)
command -v sbatch >/dev/null || missing+=(slurm-client)
[ -x /usr/sbin/munged ] || missing+=(munge)
{ command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1 || missing+=(nginx)
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged; do
    [ -x "$tool" ] || fail "$tool is required and could not be installed"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --locked --quiet --bin fetchpool
FP=$ROOT/target/debug/fetchpool

# --- a scratch directory, and every daemon stopped on exit ---------------------------------
W=$(mktemp -d /tmp/fetchpool-slurm.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$status" != 0 ]; then
        for f in "$W"/*.out "$W"/*.log "$W"/munge/munged.log; do
            [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; } >&2
        done
    fi
    rm -rf "$W"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # seconds command...
    local t=$1; shift
    for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# --- the files and the web server ----------------------------------------------------------
mkdir -p "$W/www/data" "$W/nginx" "$W/out" "$W/reports"
python3 - "$W/www/data" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
        f.write(os.urandom(1000 + 997 * i))
PY
HTTP_PORT=$(free_port)
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 64; }
http {
    log_format fetches '\$request_method \$uri \$status';
    access_log $W/nginx/access.log fetches;
    client_body_temp_path $W/nginx/tmp_body;
    proxy_temp_path $W/nginx/tmp_proxy;
    fastcgi_temp_path $W/nginx/tmp_fastcgi;
    uwsgi_temp_path $W/nginx/tmp_uwsgi;
    scgi_temp_path $W/nginx/tmp_scgi;
    server { listen 127.0.0.1:$HTTP_PORT; root $W/www; }
}
EOF
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" -g 'daemon off;' &
PIDS+=($!)
wait_for 10 python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/data/f0.bin')" ||
    fail "nginx did not start"
: >"$W/nginx/access.log"

# Nested target paths, so that the shards share directories on the shared output directory.
for i in $(seq 0 $((FILES - 1))); do
    echo "http://127.0.0.1:$HTTP_PORT/data/f$i.bin d$((i % 3))/f$i.bin"
done >"$W/list.txt"

# --- munge and Slurm ----------------------------------------------------------------------
mkdir -p "$W/munge" "$W/state" "$W/spool"
chmod 700 "$W/munge"
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
/usr/sbin/munged --foreground --force --socket="$W/munge/munge.socket" \
    --key-file="$W/munge/munge.key" --pid-file="$W/munge/munged.pid" \
    --log-file="$W/munge/munged.log" --seed-file="$W/munge/munged.seed" >"$W/munged.out" 2>&1 &
PIDS+=($!)
wait_for 10 test -S "$W/munge/munge.socket" || fail "munged did not start"

HOST=$(hostname -s)
CPUS=$(nproc)
export SLURM_CONF=$W/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=fetchpooltest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/munge.socket
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=fpnode NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=fetchpool Nodes=fpnode Default=YES MaxTime=INFINITE State=UP
EOF
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$W/slurmctld.out" 2>&1 &
PIDS+=($!)
/usr/sbin/slurmd -D -N fpnode -f "$SLURM_CONF" >"$W/slurmd.out" 2>&1 &
PIDS+=($!)
idle() { [ "$(sinfo -h -n fpnode -o %T 2>/dev/null)" = idle ]; }
wait_for 60 idle || fail "the Slurm node did not come up idle"
log "Slurm is up on $HOST (node fpnode); submitting a $TASKS-task array"

# --- the array job, twice -------------------------------------------------------------------
cat >"$W/job.sh" <<EOF
#!/bin/sh
exec "$FP" --shard auto -q -j 2 -i "$W/list.txt" -d "$W/out" --json "$W/reports/report-%k.json"
EOF
chmod +x "$W/job.sh"
submit() {
    rm -f "$W"/reports/*
    timeout 300 sbatch --wait --quiet --array=0-$((TASKS - 1)) --output="$W/task-%a.out" "$W/job.sh" ||
        fail "the array job failed"
}
check() { # expected status of every entry
    python3 - "$W" "$TASKS" "$1" <<'PY' || fail "the shards' reports do not add up to the list"
import glob, hashlib, json, os, sys
w, tasks, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = {}
for line in open(os.path.join(w, "list.txt")):
    url, path = line.split()
    want[os.path.join(w, "out", path)] = os.path.join(w, "www", url.split("/", 3)[3])
seen = {}
reports = sorted(glob.glob(os.path.join(w, "reports", "report-*.json")))
assert len(reports) == tasks, f"{len(reports)} reports for {tasks} tasks"
for r in reports:
    doc = json.load(open(r))
    for f in doc["runs"][-1]["files"]:
        assert f["path"] not in seen, f"{f['path']} in two shards' reports: {r} and {seen[f['path']]}"
        seen[f["path"]] = r
        assert f["status"] == status, f"{f['path']}: {f['status']}, expected {status}"
assert set(seen) == set(want), f"union of shards != list: {set(seen) ^ set(want)}"
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
for out, src in want.items():
    assert sha(out) == sha(src), f"{out} differs from {src}"
print(f"{len(seen)} entries over {tasks} shards ({sorted(len([1 for p in seen if seen[p] == r]) for r in reports)}), all byte-identical")
PY
}
fetches() { grep -c '^GET /data/' "$W/nginx/access.log" || true; }

submit
check downloaded
"$FP" report "$W"/reports/report-*.json || fail "fetchpool report did not exit 0"
twice=$(awk '$1 == "GET" {n[$2]++} END {for (u in n) if (n[u] != 1) print u, n[u]}' "$W/nginx/access.log")
[ -z "$twice" ] || fail "fetched more than once: $twice"
[ "$(fetches)" = "$FILES" ] || fail "$(fetches) fetches for $FILES files"

log "resubmitting the same array (a scheduler's retry): nothing is fetched again"
submit
check already_complete
"$FP" report -q "$W"/reports/report-*.json || fail "fetchpool report did not exit 0 after the rerun"
[ "$(fetches)" = "$FILES" ] || fail "the rerun fetched again: $(fetches) fetches for $FILES files"

# A report missing from the merge is not a success.
if "$FP" report -q "$W"/reports/report-0.json >/dev/null; then
    fail "fetchpool report exited 0 with shards missing"
fi
log "ok: $TASKS shards on Slurm, $FILES files, each fetched once, reruns fetch nothing"

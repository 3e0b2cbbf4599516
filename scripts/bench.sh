#!/usr/bin/env bash
# fetchpool against curl, wget2, aria2c, rclone and lftp, the two classic Python programs
# users write instead (scripts/classic/), and a floor client of our own (scripts/floor.c:
# J keep-alive connections and nothing else, once discarding the bodies, once writing each
# to its file), side by side on a local nginx, same -j for all.
# Installs what it needs (Debian/Ubuntu), generates a corpus, verifies every tool's output
# before its time counts, times with hyperfine, measures peak RSS with /usr/bin/time, and
# writes the tables into BENCHMARKS.md (between the bench markers; the rest is kept).
#
#   scripts/bench.sh [SCENARIO...]     scenarios: small big lat slow update plan stream seg tail (default: all)
#
# `stream` is the streaming plan's memory and start-up check: a 1,000,000-line list (100 tiny
# files on nginx, each line its own PATH), downloaded, and the same list in --dry-run; peak
# RSS from /usr/bin/time, the first request's time from nginx's log. Targets: under 150 MiB
# and a first download within 1 s; the dry run under 100 MiB. It prints its figures (they
# go into BENCHMARKS.md by hand: the tables below are generated, that section is not).
#
# `seg` and `tail` are the split scenarios (one 64 MiB file; seven 1 MiB files and a 48 MiB
# one), through a pacing proxy at 2 MiB/s per connection; see scenario_seg / scenario_tail.
#
# Downloads go to tmpfs (/dev/shm) by default. BENCH_DIR=/some/disk/dir measures on that
# file system instead: the outputs go to a fresh directory inside it (removed afterwards) and
# the tables go to their own section of BENCHMARKS.md, "On disk", beside the tmpfs ones.
#   J=8 RUNS=5 BENCH_DIR=/var/tmp BENCH_WORK=target/bench PORT=18080 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
J=${J:-8}
RUNS=${RUNS:-5}
# The corpus, the lists, the nginx prefix and the results (not the downloads).
WORK=${BENCH_WORK:-$ROOT/target/bench}
PORT=${PORT:-18080}
LAT_PORT=${LAT_PORT:-18081}
RTT_MS=40
SCENARIOS=${*:-small big lat slow update plan stream seg tail}
if [ -n "${BENCH_DIR:-}" ]; then
    # On disk: a directory of our own inside BENCH_DIR, so that nothing of the user's is
    # ever removed; results and tables kept apart from the tmpfs ones.
    mkdir -p "$BENCH_DIR"
    OUTROOT=$(cd "$BENCH_DIR" && pwd)/fetchpool-bench.$$
    WHERE="disk"
    RES=$WORK/results-disk
else
    # Outputs go to tmpfs: the benchmark measures the downloaders, not the disk. (On this
    # project's VMs the root ext4 has no journal, and then its inode allocator skips inodes
    # freed in the last 30 s: back-to-back runs that delete 2000 files slow every tool down
    # several-fold, and by different amounts. See BENCHMARKS.md.)
    OUTROOT=/dev/shm/fetchpool-bench
    WHERE="tmpfs"
    RES=$WORK/results
fi

log() { printf '== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
missing=()
{ command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1 || missing+=(nginx)
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v curl >/dev/null || missing+=(curl)
command -v wget2 >/dev/null || missing+=(wget2)
command -v aria2c >/dev/null || missing+=(aria2)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
command -v rclone >/dev/null || missing+=(rclone)
command -v lftp >/dev/null || missing+=(lftp)
command -v gcc >/dev/null || missing+=(gcc)
python3 -c 'import requests' 2>/dev/null || missing+=(python3-requests)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

log "building fetchpool and the latency proxy (release)"
cargo build --release --locked --quiet --bin fetchpool --example latency_proxy \
    --example pacing_proxy --example range_floor
FP=$ROOT/target/release/fetchpool
PROXY=$ROOT/target/release/examples/latency_proxy
FLOOR=$WORK/floor
mkdir -p "$WORK"
gcc -O2 -pthread -o "$FLOOR" "$ROOT/scripts/floor.c"

# --- corpus ------------------------------------------------------------------------------
WWW=$WORK/www
mkdir -p "$WWW/small" "$WWW/big" "$WWW/slow" "$WWW/tiny" "$RES"
rm -f "$RES"/*
git -C "$ROOT" describe --always --dirty >"$RES/commit"  # what this run's binary was built from
make_files() { # dir prefix count bytes
    local dir=$1 prefix=$2 count=$3 bytes=$4
    if [ "$(find "$dir" -name "$prefix*" -size "${bytes}c" | wc -l)" != "$count" ]; then
        log "generating $count x $bytes bytes in $dir"
        rm -f "$dir/$prefix"*
        python3 - "$dir" "$prefix" "$count" "$bytes" <<'PY'
import os, sys
d, p, n, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    with open(os.path.join(d, f"{p}{i}.bin"), "wb") as f:
        left = b
        while left:
            k = min(left, 1 << 22)
            f.write(os.urandom(k))
            left -= k
PY
    fi
}
# Only the corpus the chosen scenarios read (the big one is 1 GiB).
needs() { for n in "$@"; do [[ " $SCENARIOS " == *" $n "* ]] && return 0; done; return 1; }
if needs small lat update; then make_files "$WWW/small" f 2000 16384; fi
if needs big; then make_files "$WWW/big" b 4 268435456; fi
if needs slow; then make_files "$WWW/slow" s 8 8388608; fi
if needs stream; then make_files "$WWW/tiny" t 100 100; fi
mkdir -p "$WWW/split"
if needs seg; then make_files "$WWW/split" seg 1 67108864; fi
if needs tail; then make_files "$WWW/split" ts 7 1048576; make_files "$WWW/split" tb 1 50331648; fi
chmod -R a+rX "$WORK"

# --- servers -----------------------------------------------------------------------------
NGX=$WORK/nginx
mkdir -p "$NGX"
cat >"$NGX/nginx.conf" <<EOF
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format stamp '\$msec';
    client_body_temp_path $NGX/tmp_body;
    proxy_temp_path $NGX/tmp_proxy;
    fastcgi_temp_path $NGX/tmp_fastcgi;
    uwsgi_temp_path $NGX/tmp_uwsgi;
    scgi_temp_path $NGX/tmp_scgi;
    keepalive_requests 100000;
    sendfile on;
    server {
        listen 127.0.0.1:$PORT;
        root $WWW;
        # lftp's mget asks for the directory before it fetches named files.
        autoindex on;
        location /slow/ { limit_rate 2m; }
        location /tiny/ { access_log $NGX/tiny.log stamp; }
        # rclone's http backend lists the directory it copies from.
        location /split/ { autoindex on; }
    }
}
EOF
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' &
NGINX_PID=$!
"$PROXY" "127.0.0.1:$LAT_PORT" "127.0.0.1:$PORT" "$RTT_MS" &
PROXY_PID=$!
trap 'kill -QUIT $NGINX_PID 2>/dev/null; kill $PROXY_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$OUTROOT"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/small/f0.bin" && break; sleep 0.05; done

# --- scenarios ---------------------------------------------------------------------------
# lists SCENARIO BASE_URL DIR PREFIX COUNT: url list, curl config and sha256 manifest.
# Also each peer's own form of the list: names for rclone's --files-from, an lftp script,
# and host, port and paths for the floor client.
lists() {
    local s=$1 base=$2 dir=$3 prefix=$4 count=$5 out=$OUTROOT/$1
    : >"$WORK/$s.urls"; : >"$WORK/$s.curl"
    for i in $(seq 0 $((count - 1))); do
        echo "$base/$dir/$prefix$i.bin" >>"$WORK/$s.urls"
        printf 'url = "%s"\noutput = "%s"\n' "$base/$dir/$prefix$i.bin" "$out/$prefix$i.bin" >>"$WORK/$s.curl"
    done
    (cd "$WWW/$dir" && sha256sum $(sed "s|.*/||" "$WORK/$s.urls")) >"$WORK/$s.sha256"
    sed 's|.*/||' "$WORK/$s.urls" >"$WORK/$s.names"
    echo "$base/$dir" >"$WORK/$s.base"
    sed "s|^$base||" "$WORK/$s.urls" >"$WORK/$s.paths"
    local hostport=${base#http://}
    echo "${hostport%:*} ${hostport##*:}" >"$WORK/$s.addr"
    { echo "set cmd:fail-exit yes; set xfer:clobber on; open $base/$dir/"
      echo "mget -P $J -O $out $(tr '\n' ' ' <"$WORK/$s.names")"; } >"$WORK/$s.lftp"
}

verify() { # scenario: exact file set and hashes
    verify_in "$OUTROOT/$1" "$1"
}

verify_in() { # dir scenario
    [ "$(find "$1" -type f | wc -l)" = "$(wc -l <"$WORK/$2.sha256")" ] &&
        (cd "$1" && sha256sum --quiet --strict -c "$WORK/$2.sha256" >/dev/null 2>&1)
}

tool_cmd() { # tool scenario [fetchpool mode]
    local out=$OUTROOT/$2
    case $1 in
        fetchpool) echo "$FP -q -j $J -i $WORK/$2.urls -d $out" ;;
        fetchpool-serial) echo "$FP -q --mode serial -i $WORK/$2.urls -d $out" ;;
        curl) echo "curl -sS --fail -Z --parallel-immediate --parallel-max $J -K $WORK/$2.curl" ;;
        wget2) echo "wget2 -q --max-threads=$J -i $WORK/$2.urls -P $out" ;;
        aria2c) echo "aria2c -q -j $J -i $WORK/$2.urls -d $out --allow-overwrite=true --auto-file-renaming=false" ;;
        rclone) echo "rclone copy --http-url $(cat "$WORK/$2.base") :http: $out --files-from $WORK/$2.names --transfers $J --no-traverse -q" ;;
        lftp) echo "lftp -f $WORK/$2.lftp" ;;
        # The classic tutorial as written (cpu_count() - 1 threads), and at the same -j.
        classic) echo "python3 $ROOT/scripts/classic/tutorial.py $WORK/$2.urls $out" ;;
        classic-j) echo "python3 $ROOT/scripts/classic/tutorial.py $WORK/$2.urls $out $J" ;;
        filedownloader) echo "python3 $ROOT/scripts/classic/filedownloader.py $WORK/$2.urls $out $J" ;;
        # The floor: J keep-alive connections, bodies discarded / each written to its file.
        floor) echo "$FLOOR $(cat "$WORK/$2.addr") $J $WORK/$2.paths" ;;
        floor-write) echo "$FLOOR $(cat "$WORK/$2.addr") $J $WORK/$2.paths $out" ;;
    esac
}

bench() { # scenario runs tool...
    local s=$1 runs=$2; shift 2
    local out=$OUTROOT/$s
    for tool in "$@"; do
        local cmd; cmd=$(tool_cmd "$tool" "$s")
        local prepare="rm -rf $out && mkdir -p $out"
        log "$s: $tool"
        # Correctness first: a run whose output is wrong is not timed. (The discarding floor
        # writes no file: it checks every reply is a 200 with its whole Content-Length.)
        eval "$prepare"
        if ! sh -c "$cmd" >/dev/null 2>"$RES/$s-$tool.err" || { [ "$tool" != floor ] && ! verify "$s"; }; then
            echo "output not verified" >"$RES/$s-$tool.failed"
            log "$s: $tool FAILED verification (see $RES/$s-$tool.err)"
            continue
        fi
        hyperfine --style none --runs "$runs" --prepare "$prepare" \
            --export-json "$RES/$s-$tool.json" -n "$tool" "$cmd" >/dev/null
        [ "$tool" = floor ] || verify "$s" || echo "last timed run not verified" >"$RES/$s-$tool.failed"
        eval "$prepare"
        /usr/bin/time -f %M -o "$RES/$s-$tool.rss" sh -c "exec $cmd" >/dev/null 2>&1 || true
    done
}

compare() { # scenario: fetchpool's own --mode compare, once, its output verified
    local out=$OUTROOT/$1
    log "$1: fetchpool --mode compare"
    rm -rf "$out"; mkdir -p "$out"
    if ! "$FP" --mode compare -j "$J" -i "$WORK/$1.urls" -d "$out" >"$RES/$1-compare.txt" 2>&1 || ! verify "$1"; then
        echo "output not verified" >"$RES/$1-compare.failed"
    fi
}

# update: 2000 files already present and unchanged upstream; each tool first downloads them
# with its own update bookkeeping (server times on the files), then the timed reruns ask
# the server about every file and must change nothing.
update_cmd() { # tool
    local out=$OUTROOT/update-$1
    case $1 in
        fetchpool) echo "$FP -q -N -j $J -i $WORK/update.urls -d $out" ;;
        curl) echo "curl -sS --fail -Z --parallel-immediate --parallel-max $J -K $WORK/update-cond.curl" ;;
        wget2) echo "wget2 -q -N --max-threads=$J -i $WORK/update.urls -P $out" ;;
        aria2c) echo "aria2c -q -j $J -i $WORK/update.urls -d $out --conditional-get=true --allow-overwrite=true --remote-time=true --auto-file-renaming=false" ;;
    esac
}

bench_update() {
    lists update "http://127.0.0.1:$PORT" small f 2000
    : >"$WORK/update-cond.curl"; : >"$WORK/update-first.curl"
    while read -r url; do
        local f=$OUTROOT/update-curl/${url##*/}
        printf 'url = "%s"\noutput = "%s"\nremote-time\n' "$url" "$f" >>"$WORK/update-first.curl"
        printf 'url = "%s"\noutput = "%s"\nremote-time\ntime-cond = "%s"\n' "$url" "$f" "$f" >>"$WORK/update-cond.curl"
    done <"$WORK/update.urls"
    for tool in fetchpool curl wget2 aria2c; do  # the tools with an update mode
        local out=$OUTROOT/update-$tool cmd
        cmd=$(update_cmd "$tool")
        log "update: $tool (first download, then timed reruns)"
        rm -rf "$out"; mkdir -p "$out"
        local first=$cmd
        [ "$tool" = curl ] && first="curl -sS --fail -Z --parallel-immediate --parallel-max $J -K $WORK/update-first.curl"
        if ! sh -c "$first" >/dev/null 2>"$RES/update-$tool.err" || ! verify_in "$out" update ||
            ! sh -c "$cmd" >/dev/null 2>>"$RES/update-$tool.err" || ! verify_in "$out" update; then
            echo "output not verified" >"$RES/update-$tool.failed"
            continue
        fi
        hyperfine --style none --runs "$RUNS" --warmup 1 \
            --export-json "$RES/update-$tool.json" -n "$tool" "$cmd" >/dev/null
        verify_in "$out" update || echo "last timed run not verified" >"$RES/update-$tool.failed"
        /usr/bin/time -f %M -o "$RES/update-$tool.rss" sh -c "exec $cmd" >/dev/null 2>&1 || true
    done
}

# --- split scenarios: seg and tail, through the pacing proxy (issue 15) --------------------
# nginx's limit_rate grants every response a one-second burst, so here every connection goes
# through examples/pacing_proxy.rs instead: at most 2 MiB/s at every moment, no burst, no
# credit saved while idle, one pace across keep-alive requests. Each row is one run through a
# fresh proxy, which also counts the most connections the tool held open at once. The floor
# row is examples/range_floor.rs: the same bytes as 8 slices over 8 connections, nothing else.
SPLIT_PORT=${SPLIT_PORT:-18082}
SPLIT_RATE=$((2 * 1024 * 1024))
PACER=$ROOT/target/release/examples/pacing_proxy
RANGE_FLOOR=$ROOT/target/release/examples/range_floor

split_peers() { # the split scenarios' peers, installed when missing
    local need=()
    command -v axel >/dev/null || need+=(axel)
    command -v lftp >/dev/null || need+=(lftp)
    command -v rclone >/dev/null || need+=(rclone)
    command -v wget2 >/dev/null || need+=(wget2)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    python3 -c 'import hf_transfer' 2>/dev/null || python3 -m pip install -q hf_transfer
}

split_lists() { # scenario prefix...: url list and sha256 manifest of those files
    local s=$1; shift
    : >"$WORK/$s.urls"; : >"$WORK/$s.sha256"
    for p in "$@"; do
        for f in "$WWW/split/$p"*.bin; do
            echo "http://127.0.0.1:$SPLIT_PORT/split/${f##*/}" >>"$WORK/$s.urls"
            (cd "$WWW/split" && sha256sum "${f##*/}") >>"$WORK/$s.sha256"
        done
    done
}

split_row() { # scenario name command...: one run in a fresh output dir through a fresh proxy
    local s=$1 name=$2; shift 2
    local out=$OUTROOT/$s peak=$RES/$s-$name.peak status=ok
    rm -rf "$out" "$peak"; mkdir -p "$out"
    "$PACER" "127.0.0.1:$SPLIT_PORT" "127.0.0.1:$PORT" "$SPLIT_RATE" "$peak" &
    local pid=$!
    # The proxy writes the file once it listens (no probe connection, which it would count).
    for _ in $(seq 200); do [ -s "$peak" ] && break; sleep 0.02; done
    log "$s: $name"
    local t0 t1; t0=$(date +%s.%N)
    (cd "$out" && "$@") >"$RES/$s-$name.log" 2>&1 || status="exit $?"
    t1=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ "$name" != floor ] && [ "$status" = ok ] && ! verify "$s"; then status="output not verified"; fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")" \
        "$(cat "$peak")" "$status" >>"$RES/$s.tsv"
}

scenario_seg() { # one 64 MiB file, 8 connections each
    split_peers
    split_lists seg seg
    local u; u=$(cat "$WORK/seg.urls")
    : >"$RES/seg.tsv"
    split_row seg floor "$RANGE_FLOOR" 8 "$u"
    split_row seg "fetchpool -j 8 --split 8" "$FP" -q -j 8 --split 8 -d . "$u"
    split_row seg "aria2c -x8 -s8" aria2c -q -x8 -s8 -k1M --allow-overwrite=true -d . "$u"
    split_row seg "axel -n 8" axel -q -n 8 -o seg0.bin "$u"
    split_row seg "lftp pget -n 8" lftp -c "pget -n 8 $u -o seg0.bin"
    split_row seg "rclone --multi-thread-streams 8" rclone copy -q --http-url "http://127.0.0.1:$SPLIT_PORT/" \
        :http:split/ . --include seg0.bin --multi-thread-streams 8 --multi-thread-cutoff 1M
    split_row seg "hf_transfer max_files=8" python3 -c \
        "from hf_transfer import download; download('$u', 'seg0.bin', max_files=8, chunk_size=8 << 20)"
    split_row seg "fetchpool (one stream)" "$FP" -q -d . "$u"
    split_report seg "seg: one 64 MiB file, 2 MiB/s per connection (pacing proxy)"
}

scenario_tail() { # seven 1 MiB files and one 48 MiB file: the tail of a list
    split_peers
    split_lists tail ts tb
    local l=$WORK/tail.urls names; names=$(sed 's|.*/||' "$l" | tr '\n' ' ')
    : >"$RES/tail.tsv"
    split_row tail floor "$RANGE_FLOOR" 8 $(cat "$l")
    split_row tail "fetchpool -j 8 --split 8" "$FP" -q -j 8 --split 8 -i "$l" -d .
    split_row tail "fetchpool -j 16 --split 16" "$FP" -q -j 16 --split 16 -i "$l" -d .
    split_row tail "fetchpool -j 8" "$FP" -q -j 8 -i "$l" -d .
    split_row tail "aria2c -j8 -x8 -s8" aria2c -q -j8 -x8 -s8 -k1M --allow-overwrite=true -i "$l" -d .
    split_row tail "lftp mget -P 8 --use-pget-n=8" lftp -c \
        "open http://127.0.0.1:$SPLIT_PORT/split/; mget -P 8 --use-pget-n=8 $names"
    split_row tail "rclone --transfers 8 --multi-thread-streams 8" rclone copy -q \
        --http-url "http://127.0.0.1:$SPLIT_PORT/" :http:split/ . --include "t[sb]*.bin" \
        --transfers 8 --multi-thread-streams 8 --multi-thread-cutoff 1M
    split_row tail "wget2 --max-threads=8 --chunk-size=1M" wget2 -q --max-threads=8 --chunk-size=1M -i "$l"
    split_row tail "curl -Z --parallel-max 8" curl -sS --fail -Z --parallel-max 8 --remote-name-all $(cat "$l")
    split_report tail "tail: seven 1 MiB files and one 48 MiB file, 2 MiB/s per connection (pacing proxy)"
}

split_report() { # scenario title: its table between its own markers in BENCHMARKS.md
    local mark=$1 title=$2
    # A disk run's tables have markers of their own, beside the tmpfs ones.
    if [ "$WHERE" = disk ]; then mark=$1-disk; title="$2, on disk"; fi
    python3 - "$RES/$1.tsv" "$ROOT/BENCHMARKS.md" "$mark" "$title" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import sys, datetime
tsv, md, s, title, commit = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
floor = next((float(r[1]) for r in rows if r[0] == "floor"), None)
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out = [f"### {title}", "",
       f"One run per row, {when}, fetchpool {commit}; every output checked (SHA-256) unless the "
       "status says otherwise. Peak = most connections open at once, counted by the proxy.", "",
       "| tool | seconds | vs floor | peak connections | status |", "|---|---|---|---|---|"]
for name, secs, peak, status in rows:
    vs = f"{float(secs) / floor:.2f}×" if floor else "-"
    out.append(f"| {name} | {secs} | {vs} | {peak} | {status} |")
start, end = f"<!-- split-{s}:start -->", f"<!-- split-{s}:end -->"
text = open(md).read()
block = start + "\n" + "\n".join(out) + "\n" + end
if start in text:
    head, rest = text.split(start, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(md, "w").write(text)
PY
}

PEERS="fetchpool curl wget2 aria2c rclone lftp"
FLOORS="floor floor-write"
CLASSICS="classic classic-j filedownloader"
BENCH_TABLES=no
for s in $SCENARIOS; do
    case $s in
        seg) scenario_seg; continue ;;
        tail) scenario_tail; continue ;;
        small) lists small "http://127.0.0.1:$PORT" small f 2000
               bench small "$RUNS" $PEERS $FLOORS; bench small 3 $CLASSICS ;;
        big) lists big "http://127.0.0.1:$PORT" big b 4; bench big 3 $PEERS $FLOORS ;;
        lat) lists lat "http://127.0.0.1:$LAT_PORT" small f 400
             bench lat "$RUNS" $PEERS $FLOORS; bench lat 2 fetchpool-serial
             bench lat 1 $CLASSICS; compare lat ;;
        slow) lists slow "http://127.0.0.1:$PORT" slow s 8
              bench slow 3 $PEERS $FLOORS; bench slow 1 fetchpool-serial; compare slow ;;
        update) bench_update ;;
        plan)
            log "plan: 100 000-line input, --dry-run"
            python3 -c "
for i in range(100000):
    print(f'http://127.0.0.1:$PORT/small/f{i % 2000}.bin d{i // 1000}/f{i}.bin' + (' sha256=' + '0' * 64 if i % 3 == 0 else ''))
" >"$WORK/plan.urls"
            /usr/bin/time -f '%e %M' -o "$RES/plan.time" "$FP" --dry-run -i "$WORK/plan.urls" -d "$OUTROOT/plan" >/dev/null
            ;;
        stream)
            log "stream: 1 000 000-line list, --dry-run then a full run"
            python3 -c "
for i in range(1000000):
    print(f'http://127.0.0.1:$PORT/tiny/t{i % 100}.bin d{i // 1000}/f{i}.bin')
" >"$WORK/stream.urls"
            out=$OUTROOT/stream
            rm -rf "$out"
            /usr/bin/time -f '%e %M' -o "$RES/stream-dry.time" "$FP" --dry-run -i "$WORK/stream.urls" -d "$out" >/dev/null
            : >"$NGX/tiny.log"
            launched=$(date +%s.%N)
            /usr/bin/time -f '%e %M' -o "$RES/stream.time" "$FP" -q -j "$J" -i "$WORK/stream.urls" -d "$out" >/dev/null
            first=$(head -n 1 "$NGX/tiny.log")
            got=$(find "$out" -type f | wc -l)
            [ "$got" = 1000000 ] || echo "$got files" >"$RES/stream.failed"
            rm -rf "$out"
            python3 - "$RES" "$launched" "$first" <<'PY'
import sys
res, launched, first = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
dry_s, dry_kb = open(f"{res}/stream-dry.time").read().split()
run_s, run_kb = open(f"{res}/stream.time").read().split()
print(f"stream: --dry-run {float(dry_s):.2f} s, peak RSS {int(dry_kb) / 1024:.1f} MiB")
print(f"stream: run {float(run_s):.1f} s, peak RSS {int(run_kb) / 1024:.1f} MiB, "
      f"first request {first - launched:.3f} s after launch")
PY
            ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
    case $s in stream) ;; *) BENCH_TABLES=yes ;; esac
done

# The generated tables need the other scenarios' results: a run of only `stream`, `seg` or
# `tail` leaves them (seg and tail write their own sections).
if [ "$BENCH_TABLES" = yes ]; then
    mkdir -p "$OUTROOT"
    python3 "$ROOT/scripts/bench_report.py" "$RES" "$ROOT/BENCHMARKS.md" "$J" "$RTT_MS" \
        "$WHERE" "$(df -T "$OUTROOT" | awk 'NR == 2 {print $2 " (" $1 ") at " $7}')"
fi
log "wrote BENCHMARKS.md"

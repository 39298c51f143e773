#!/usr/bin/env bash
# bench.sh BIN - streamguard against nginx, same certificate, same run, same load generator.
#
# All serve POST /validate over TLS with keep-alive on 127.0.0.1: streamguard decides a real
# captured FlinkDeployment AdmissionReview (5.7 KB), once with the shipped policies (policies/,
# the real configuration) and once with none; nginx returns the same answer as a fixed string.
# Both streamguards log at info, as in production (the log goes down a pipe that is read and
# dropped, as a container runtime reads it).
#
# Rounds: ROUNDS times, every server at every connection count, the servers' order rotated
# each round (A B C, B C A, ...), so that a change in the machine's load falls on all of them
# alike. Each run reports req/s, the server's CPU time per request (utime + stime from
# /proc/PID/stat over the run, nginx's master and workers together, divided by the requests wrk
# completed), wrk's own CPU time per request (the load generator shares the 2 CPUs), and the
# 1-minute load average at its end. Then medians and ranges over the rounds, the ratios to
# nginx, a paced run at half of streamguard's own peak (build/pace, tests/bench/pace.c: a
# constant rate on 2 threads, latency from when each request was due; then the same target
# with wrk and tests/bench/paced.lua, 16 threads, as in earlier rounds), the syscalls of a
# keep-alive request (strace), the memory, and the budgets of DESIGN.md, each PASS or FAIL with
# its number.
#
# Environment: DURATION (seconds per run, default 5), ROUNDS (default 5), CONNS (connection
# counts, default "16 64"), THREADS (server threads and nginx workers, default nproc),
# PACED_SECONDS (default 10), PACED_CONNS (default 16), PACED_THREADS (build/pace's threads,
# default 2), BASELINE (another streamguard binary,
# an older build: served too, with its own shipped policies and without, in the same rounds:
# the "before" of a before/after; BASELINE_POLICIES, default the policies/ beside its build/),
# LOG_AB=1 (also streamguard with the shipped policies at --log-level warn:
# what logging at info costs).
set -euo pipefail

BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/bench"
BODY="$ROOT/tests/fixtures/admission/flinkdeployment-create-v1.request.json"
POLICIES="$ROOT/policies"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-"16 64"}
THREADS=${THREADS:-$(nproc)}
PACED_SECONDS=${PACED_SECONDS:-10}
PACED_CONNS=${PACED_CONNS:-16}
PACED_THREADS=${PACED_THREADS:-2}
PACE="$(dirname "$BIN")/pace" # make build/pace
[ -x "$PACE" ] || { echo "bench: $PACE is missing (make $(dirname "$1")/pace)" >&2; exit 1; }
BASELINE=${BASELINE:+$(realpath "$BASELINE")}
# the baseline's own shipped policies (those of today's tree may call functions it lacks):
# BASELINE_POLICIES, else the policies/ of the tree the binary was built in (BIN/../../policies)
BASELINE_POLICIES=${BASELINE_POLICIES:-${BASELINE:+$(dirname "$BASELINE")/../policies}}
BASELINE_POLICIES=${BASELINE_POLICIES:+$(realpath "$BASELINE_POLICIES")}
LOG_AB=${LOG_AB:-0}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { # a port nothing listens on, from the kernel's ephemeral range
    local p
    for _ in $(seq 1 50); do
        p=$((32768 + RANDOM % 28000))
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
    done
    return 1
}
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$BIN" certs generate --out "$TMP/certs" --host localhost --host 127.0.0.1 >/dev/null 2>&1
mkdir -p "$TMP/empty"

declare -A PORT PID
NAMES=()
# start_sg NAME BIN POLICY_DIR LOG_LEVEL
start_sg() {
    local extra=() port
    [ "$3" = "$TMP/empty" ] && extra+=(--allow-empty-policies)
    # grep reads all of it: -q would stop at the match, and the help (over 4 KiB, two writes)
    # would die of SIGPIPE, failing the pipeline under pipefail (then no --no-cluster)
    "$2" serve --help 2>&1 | grep -- --no-cluster >/dev/null && extra+=(--no-cluster)
    port=$(free_port)
    "$2" serve --listen "127.0.0.1:$port" --tls-cert "$TMP/certs/tls.crt" \
        --tls-key "$TMP/certs/tls.key" --policies "$3" "${extra[@]}" --threads "$THREADS" \
        --log-level "$4" 2> >(cat >/dev/null) &
    PID[$1]=$!
    PIDS+=($!)
    PORT[$1]=$port
    NAMES+=("$1")
    wait_port "$port"
}
start_sg sg "$BIN" "$POLICIES" info
start_sg sg-none "$BIN" "$TMP/empty" info
if [ -n "$BASELINE" ]; then
    start_sg base "$BASELINE" "$BASELINE_POLICIES" info
    start_sg base-none "$BASELINE" "$TMP/empty" info
fi
[ "$LOG_AB" = 1 ] && start_sg sg-warn "$BIN" "$POLICIES" warn

PORT[nginx]=$(free_port)
sed -e "s|@TMP@|$TMP|g" -e "s|@PORT@|${PORT[nginx]}|g" -e "s|@CERTS@|$TMP/certs|g" \
    -e "s|@WORKERS@|$THREADS|g" "$HERE/nginx.conf.in" >"$TMP/nginx.conf"
nginx -p "$TMP" -c "$TMP/nginx.conf" 2>"$TMP/nginx.log" &
PID[nginx]=$!
PIDS+=($!)
NAMES+=(nginx)
wait_port "${PORT[nginx]}"

# All must answer the captured review (same uid, a 200 AdmissionReview) before they are compared.
for n in "${NAMES[@]}"; do
    out=$(curl -sS --cacert "$TMP/certs/ca.crt" -H 'Content-Type: application/json' \
        --data-binary @"$BODY" "https://127.0.0.1:${PORT[$n]}/validate")
    grep -q '"uid":"655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833","allowed":' <<<"$out" ||
        { echo "bench: $n answered: $out" >&2; exit 1; }
done

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
declare -A IDLE_RSS
for n in sg sg-none; do IDLE_RSS[$n]=$(rss_kib "${PID[$n]}" VmRSS); done

# cpu_ticks PID: utime + stime of PID and of its children (nginx's workers), in clock ticks
cpu_ticks() {
    local p sum=0
    for p in "$1" $(pgrep -P "$1" || true); do
        [ -r "/proc/$p/stat" ] || continue
        sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$sum"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
load1() { cut -d' ' -f1 /proc/loadavg; }

# run NAME CONNS ROUND: one wrk run; appends a row to $TMP/runs.tsv
run() {
    local n=$1 conns=$2 round=$3 out c0 c1 bad reqs rps wrk_s
    c0=$(cpu_ticks "${PID[$n]}")
    # wrk's CPU time from bash's 'time' (its rusage): user + sys seconds
    wrk_s=$( { TIMEFORMAT='%3U %3S'; time SG_BODY="$BODY" wrk -t2 -c"$conns" \
        -d"${DURATION}s" --latency -s "$HERE/post.lua" "https://127.0.0.1:${PORT[$n]}/validate" \
        >"$TMP/wrk.out"; } 2>&1 | tail -1)
    c1=$(cpu_ticks "${PID[$n]}")
    out=$(cat "$TMP/wrk.out")
    bad=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$out" | grep -o '[0-9]*$' || true)
    if [ -n "$bad" ] || grep -q 'Socket errors' <<<"$out"; then
        echo "bench: errors at $conns connections on $n:" >&2
        echo "$out" >&2
        exit 1
    fi
    reqs=$(awk '/requests in/ {print $1; exit}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    awk -v n="$n" -v c="$conns" -v r="$round" -v rps="$rps" -v reqs="$reqs" -v t=$((c1 - c0)) \
        -v u="$TICK_US" -v w="$wrk_s" -v l="$(load1)" \
        -v p99="$(awk '$1 == "99%" {print $2}' <<<"$out")" 'BEGIN {
            split(w, ws, " ");
            printf "%s\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%s\n", n, c, r, rps, t * u / reqs,
                   (ws[1] + ws[2]) * 1e6 / reqs, p99, l }' >>"$TMP/runs.tsv"
}

echo "streamguard bench: $(nproc) CPUs, server threads $THREADS, nginx workers $THREADS," \
    "${DURATION}s per run, $ROUNDS rounds, connections: $CONNS"
echo "body $(stat -c %s "$BODY") bytes (captured FlinkDeployment review), TLS keep-alive, wrk (2 threads)" \
    "on the same CPUs; streamguard logs at info (sg-warn: at warn)"
echo "servers: sg = $BIN with $(ls "$POLICIES"/*.yaml | wc -l) shipped policies; sg-none = the same," \
    "no policy${BASELINE:+; base, base-none = $BASELINE with $BASELINE_POLICIES, and none};" \
    "nginx = a fixed answer"
echo "load average (1 min) at the start: $(load1)"
echo
printf 'round\tserver\tconns\treq/s\tserver_us/req\twrk_us/req\tp99\tload1\n' >"$TMP/runs.tsv"
n_names=${#NAMES[@]}
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNS; do
        for i in $(seq 0 $((n_names - 1))); do
            run "${NAMES[$(((i + round - 1) % n_names))]}" "$c" "$round"
        done
    done
    echo "round $round of $ROUNDS done (load $(load1))"
done
echo
PEAK_RSS=$(rss_kib "${PID[sg]}" VmHWM)
PEAK_RSS_NONE=$(rss_kib "${PID[sg-none]}" VmHWM)

# Syscalls of keep-alive requests, counted by strace on the server (1 connection, 2 s).
syscalls() { # NAME: prints "sendmsg recvfrom setsockopt write" per request
    local n=$1 st reqs
    strace -f -c -o "$TMP/strace.$n" -e trace=sendmsg,sendto,writev,write,recvfrom,setsockopt \
        -p "${PID[$n]}" 2>/dev/null &
    st=$!
    sleep 0.5
    reqs=$(SG_BODY="$BODY" wrk -t1 -c1 -d2s -s "$HERE/post.lua" \
        "https://127.0.0.1:${PORT[$n]}/validate" | awk '/requests in/ {print $1; exit}')
    kill -INT "$st"
    wait "$st" 2>/dev/null || true
    awk -v r="$reqs" '$NF ~ /^(sendmsg|sendto|writev|recvfrom|setsockopt|write)$/ { c[$NF] = $4 }
        END { printf "%d %.2f %.2f %.2f %.2f %.2f\n", r, c["sendmsg"] / r, c["recvfrom"] / r,
              c["setsockopt"] / r, c["write"] / r, (c["writev"] + c["sendto"]) / r }' \
        "$TMP/strace.$n"
}
STRACE=""
if command -v strace >/dev/null 2>&1; then
    STRACE=$(syscalls sg)
    [ -n "$BASELINE" ] && STRACE="$STRACE
$(syscalls base)"
fi

# The paced run at half of the peak of NAME (its best median req/s), with build/pace: PACED_CONNS
# connections on PACED_THREADS threads at a constant rate, latency from when each request was due.
# This is the run the p99 budget is judged on.
# The server's CPU per request over the run is appended to pace's line (server_cpu_us_per_req).
paced() { # NAME TARGET
    local out c0 c1 n
    c0=$(cpu_ticks "${PID[$1]}")
    out=$("$PACE" -t "$PACED_THREADS" -c "$PACED_CONNS" -r "$2" -d "$PACED_SECONDS" -b "$BODY" \
        "https://127.0.0.1:${PORT[$1]}/validate" | grep '^paced:')
    c1=$(cpu_ticks "${PID[$1]}")
    n=$(sed -n 's/.* requests \([0-9]*\) .*/\1/p' <<<"$out")
    [ -n "$n" ] && [ "$n" -gt 0 ] &&
        out="$out server_cpu_us_per_req $(awk -v d=$((c1 - c0)) -v u="$TICK_US" -v n="$n" \
            'BEGIN { printf "%.1f", d * u / n }')"
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(load1)" "$out"
}
# The same with wrk and tests/bench/paced.lua (one connection per wrk thread, 16 threads on the
# machine's CPUs), the paced run of earlier rounds, for comparison.
paced_wrk() { # NAME TARGET
    local out
    local rate
    rate=$(awk -v r="$2" -v c="$PACED_CONNS" 'BEGIN { printf "%.3f", r / c }')
    out=$(SG_BODY="$BODY" SG_CONN_RATE="$rate" \
        wrk -t"$PACED_CONNS" -c"$PACED_CONNS" -d"${PACED_SECONDS}s" -s "$HERE/paced.lua" \
        "https://127.0.0.1:${PORT[$1]}/validate" | grep '^paced:')
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(load1)" "$out"
}
peak() { # NAME: the best median req/s over the connection counts
    python3 "$HERE/bench_summary.py" --peak "$1" "$TMP/runs.tsv"
}
PACED=""
PACED_WRK=""
for n in sg ${BASELINE:+base}; do
    target=$(($(peak "$n") / 2))
    PACED="$PACED$(paced "$n" "$target")
"
    PACED_WRK="$PACED_WRK$(paced_wrk "$n" "$target")
"
done

python3 "$HERE/bench_summary.py" "$TMP/runs.tsv" \
    --idle-rss "${IDLE_RSS[sg]}" --peak-rss "$PEAK_RSS" \
    --idle-rss-none "${IDLE_RSS[sg-none]}" --peak-rss-none "$PEAK_RSS_NONE" \
    --strace "$STRACE" --paced "$PACED" --paced-wrk "$PACED_WRK" --paced-conns "$PACED_CONNS" \
    --paced-threads "$PACED_THREADS" --load-end "$(load1)"

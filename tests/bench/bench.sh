#!/usr/bin/env bash
# bench.sh BIN - streamguard against nginx, same certificate, same run, same load generator.
#
# Both serve POST /validate over TLS with keep-alive on 127.0.0.1: streamguard decides a real
# captured FlinkDeployment AdmissionReview (5.7 KB); nginx returns the same answer as a fixed
# string. wrk drives each at 1, 16 and 64 connections; then streamguard again at half its
# peak rate (paced by post.lua) for the p99 budget. Prints one table, the memory of the
# server (idle, peak), and the budgets of DESIGN.md next to the measured numbers.
#
# With BASELINE set to another streamguard binary (an older build), it is served too, and the
# runs interleave at each connection count (streamguard, baseline, nginx; REPEAT times), so that
# a change is compared under the same conditions as its baseline. Each row gives the server's
# CPU time per request: utime + stime of its processes (/proc/PID/stat) over the run, divided
# by the requests wrk completed.
# Environment: DURATION (seconds per run, default 10), THREADS (server threads, default nproc),
# BASELINE (a streamguard binary to compare with), REPEAT (interleaved rounds, default 1).
set -euo pipefail

BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/bench"
BODY="$ROOT/tests/fixtures/admission/flinkdeployment-create-v1.request.json"
DURATION=${DURATION:-10}
THREADS=${THREADS:-$(nproc)}
BASELINE=${BASELINE:+$(realpath "$BASELINE")}
REPEAT=${REPEAT:-1}
TMP=$(mktemp -d)
SG_PID=
BASE_PID=
NGINX_PID=
cleanup() {
    for p in "$SG_PID" "$BASE_PID" "$NGINX_PID"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    wait 2>/dev/null
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
mkdir -p "$TMP/policies"

# start_sg BIN LOG: serves on a free port; sets STARTED_PORT and STARTED_PID
start_sg() {
    local empty=()
    # the empty policy directory is served on purpose (builds before it refuse nothing)
    if "$1" serve --help 2>&1 | grep -q -- --allow-empty-policies; then empty=(--allow-empty-policies); fi
    STARTED_PORT=$(free_port)
    "$1" serve --listen "127.0.0.1:$STARTED_PORT" --tls-cert "$TMP/certs/tls.crt" \
        --tls-key "$TMP/certs/tls.key" --policies "$TMP/policies" "${empty[@]}" --threads "$THREADS" \
        --log-level warn 2>"$2" &
    STARTED_PID=$!
    wait_port "$STARTED_PORT"
}
start_sg "$BIN" "$TMP/sg.log"
SG_PORT=$STARTED_PORT SG_PID=$STARTED_PID
BASE_PORT=
if [ -n "$BASELINE" ]; then
    start_sg "$BASELINE" "$TMP/base.log"
    BASE_PORT=$STARTED_PORT BASE_PID=$STARTED_PID
fi

NG_PORT=$(free_port)
sed -e "s|@TMP@|$TMP|g" -e "s|@PORT@|$NG_PORT|g" -e "s|@CERTS@|$TMP/certs|g" \
    -e "s|@WORKERS@|$THREADS|g" "$HERE/nginx.conf.in" >"$TMP/nginx.conf"
nginx -p "$TMP" -c "$TMP/nginx.conf" 2>"$TMP/nginx.log" &
NGINX_PID=$!
wait_port "$NG_PORT"

# All must answer the same thing before they are compared.
for p in "$SG_PORT" $BASE_PORT "$NG_PORT"; do
    out=$(curl -sS --cacert "$TMP/certs/ca.crt" -H 'Content-Type: application/json' \
        --data-binary @"$BODY" "https://127.0.0.1:$p/validate")
    grep -q '"uid":"655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833","allowed":true' <<<"$out" ||
        { echo "bench: port $p answered: $out" >&2; exit 1; }
done

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
SG_IDLE_RSS=$(rss_kib "$SG_PID" VmRSS)

to_ms() { # wrk latency ("812.00us", "1.23ms", "1.01s") to milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
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
# run PORT PID CONNECTIONS [CONN_RATE]: sets RPS P50 P99 and CPU_US (server CPU per request)
run() {
    local port=$1 pid=$2 conns=$3 rate=${4:-0} threads out bad c0 c1 reqs
    threads=$((conns < 2 ? 1 : 2))
    c0=$(cpu_ticks "$pid")
    out=$(SG_BODY="$BODY" SG_CONN_RATE="$rate" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency \
        -s "$HERE/post.lua" "https://127.0.0.1:$port/validate")
    c1=$(cpu_ticks "$pid")
    bad=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$out" | grep -o '[0-9]*$' || true)
    if [ -n "$bad" ] || grep -q 'Socket errors' <<<"$out"; then
        echo "bench: errors at $conns connections on port $port:" >&2
        echo "$out" >&2
        exit 1
    fi
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1; exit}' <<<"$out")
    CPU_US=$(awk -v t=$((c1 - c0)) -v u="$TICK_US" -v n="$reqs" \
        'BEGIN { printf "%.1f", (n > 0 ? t * u / n : 0) }')
    P50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    P99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
}

echo "streamguard bench: $(nproc) CPUs, server threads $THREADS, nginx workers $THREADS, ${DURATION}s per run,"
echo "body $(stat -c %s "$BODY") bytes (captured FlinkDeployment review), TLS keep-alive, wrk on the same machine"
[ -n "$BASELINE" ] &&
    echo "baseline: $BASELINE, interleaved with streamguard and nginx, $REPEAT round(s) each"
echo "CPU us/req: the server's utime + stime over the run (nginx: master and workers) per request"
echo
printf '| connections | server | req/s | p50 ms | p99 ms | CPU us/req | of nginx |\n'
printf '|---:|---|---:|---:|---:|---:|---:|\n'
PEAK=0
BASE_PEAK=0
NGINX_PEAK=0
for c in 1 16 64; do
    for _ in $(seq 1 "$REPEAT"); do
        run "$SG_PORT" "$SG_PID" "$c"
        s_row=("$RPS" "$P50" "$P99" "$CPU_US")
        [ "$RPS" -gt "$PEAK" ] && PEAK=$RPS
        if [ -n "$BASELINE" ]; then
            run "$BASE_PORT" "$BASE_PID" "$c"
            b_row=("$RPS" "$P50" "$P99" "$CPU_US")
            [ "$RPS" -gt "$BASE_PEAK" ] && BASE_PEAK=$RPS
        fi
        run "$NG_PORT" "$NGINX_PID" "$c"
        [ "$RPS" -gt "$NGINX_PEAK" ] && NGINX_PEAK=$RPS
        of() { awk -v a="$1" -v b="$RPS" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
        printf '| %d | streamguard | %s | %s | %s | %s | %s |\n' "$c" "${s_row[@]}" \
            "$(of "${s_row[0]}")"
        [ -n "$BASELINE" ] && printf '| %d | baseline | %s | %s | %s | %s | %s |\n' "$c" \
            "${b_row[@]}" "$(of "${b_row[0]}")"
        printf '| %d | nginx | %s | %s | %s | %s | |\n' "$c" "$RPS" "$P50" "$P99" "$CPU_US"
    done
done

HALF=$((PEAK / 2))
HALF_CONNS=64
# half_peak NAME PORT PID: paced at HALF (streamguard's half peak, the same target for both)
half_peak() {
    local offered=$HALF
    for _ in 1 2 3; do
        run "$2" "$3" "$HALF_CONNS" \
            "$(awk -v r="$offered" -v c="$HALF_CONNS" 'BEGIN { printf "%.3f", r / c }')"
        awk -v a="$RPS" -v h="$HALF" 'BEGIN { exit !(a >= 0.95 * h && a <= 1.05 * h) }' && break
        offered=$(awk -v o="$offered" -v a="$RPS" -v h="$HALF" 'BEGIN { printf "%.0f", o * h / a }')
    done
    echo "$1 at half the peak (target $HALF req/s over $HALF_CONNS connections): $RPS req/s," \
        "p50 $P50 ms, p99 $P99 ms, CPU $CPU_US us/req"
}
echo
[ -n "$BASELINE" ] && half_peak baseline "$BASE_PORT" "$BASE_PID"
half_peak streamguard "$SG_PORT" "$SG_PID"
SG_PEAK_RSS=$(rss_kib "$SG_PID" VmHWM)
echo "streamguard memory: idle RSS $((SG_IDLE_RSS / 1024)).$(((SG_IDLE_RSS % 1024) * 10 / 1024)) MiB, peak RSS (VmHWM) $((SG_PEAK_RSS / 1024)).$(((SG_PEAK_RSS % 1024) * 10 / 1024)) MiB"
echo
[ -n "$BASELINE" ] && echo "baseline peak $BASE_PEAK req/s; streamguard peak $PEAK req/s" \
    "($(awk -v a="$PEAK" -v b="$BASE_PEAK" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }'))"
echo "budgets (DESIGN.md): throughput >= 70% of nginx (peak $PEAK vs $NGINX_PEAK req/s:" \
    "$(awk -v a="$PEAK" -v b="$NGINX_PEAK" 'BEGIN { printf "%.0f%%", 100 * a / b }'));"
echo "  p99 <= 2 ms at half load (measured $P99 ms); RSS <= 16 MiB idle, <= 48 MiB at 64 connections"

#!/usr/bin/env bash
# pace_test.sh BIN PACE - make bench's constant-rate load generator (tests/bench/pace.c) against
# the real server: it sends exactly the scheduled number of requests, counts answers that are
# not 200, and refuses what it cannot run with a message. The bench's p99 budget is judged on
# its figures, so they are checked here, where make test runs. Prints "N passed, N failed".
set -u

. "$(dirname "$0")/lib.sh"
PACE=$(realpath "$2")
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN" certs generate --out "$TMP/certs" --host 127.0.0.1 >/dev/null 2>&1
mkdir -p "$TMP/policies"
cp "$ROOT"/policies/*.yaml "$TMP/policies/"
start_server pace --no-cluster --threads 2 || exit 1
BODY="$FIX/flinkdeployment-create-v1.request.json"

field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p" <<<"$2"; }

# 300 requests a second for 1 s on 4 connections over 2 threads: 300 answers, all 200.
out=$("$PACE" -t 2 -c 4 -r 300 -d 1 -b "$BODY" "https://127.0.0.1:$PORT/validate")
check "exactly the scheduled requests, all answered 200" \
    test "$(field requests "$out") $(field non200 "$out") $(field errors "$out")" = "300 0 0"
check "percentiles are ordered (p50 <= p99 <= p99.9 <= max) and positive" python3 -c "
import sys
v = [float(x) for x in sys.argv[1:]]
sys.exit(0 if 0 < v[0] <= v[1] <= v[2] <= v[3] else 1)" \
    "$(field p50_ms "$out")" "$(field p99_ms "$out")" "$(field p999_ms "$out")" "$(field max_ms "$out")"

# An unknown path is answered 404: counted, not an error.
out=$("$PACE" -t 1 -c 2 -r 100 -d 0.5 -b "$BODY" "https://127.0.0.1:$PORT/nowhere")
check "answers other than 200 are counted" \
    test "$(field requests "$out") $(field non200 "$out") $(field errors "$out")" = "50 50 0"

# What it cannot run: a clear message and status 1 (2 for bad usage), no output line.
check "no server: exit 1 with the reason" bash -c \
    "! out=\$('$PACE' -r 10 -d 0.1 -b '$BODY' https://127.0.0.1:1/validate 2>&1) &&
     grep -q 'connect to 127.0.0.1' <<<\"\$out\""
check "a body file that does not exist: exit 1" bash -c \
    "! '$PACE' -r 10 -d 0.1 -b '$TMP/none' https://127.0.0.1:$PORT/validate 2>/dev/null"
"$PACE" -r 0 -b "$BODY" "https://127.0.0.1:$PORT/validate" >/dev/null 2>&1
check "a rate of 0 is refused as usage (exit 2)" test $? -eq 2
check "a URL that is not https://HOST:PORT is refused" bash -c \
    "! '$PACE' -r 10 -d 0.1 -b '$BODY' http://127.0.0.1:$PORT/ 2>/dev/null"

finish pace_test

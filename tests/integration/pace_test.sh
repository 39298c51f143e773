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

# An unknown path is answered 404: counted, not an error.
out=$("$PACE" -t 1 -c 2 -r 100 -d 0.5 -b "$BODY" "https://127.0.0.1:$PORT/nowhere")
check "answers other than 200 are counted" \
    test "$(field requests "$out") $(field non200 "$out") $(field errors "$out")" = "50 50 0"

# Coordinated omission: the server stopped for 300 ms in the middle of a run. Counted from when
# each request was due, the ~480 requests that fell due meanwhile are late, so the p99 is too;
# counted from when they were sent (what the generator would see without the correction), only
# the 16 in flight were, under 1%.
"$PACE" -t 2 -c 16 -r 1600 -d 2 -b "$BODY" "https://127.0.0.1:$PORT/validate" >"$TMP/stall" &
pace=$!
sleep 0.8
kill -STOP "$PID"
sleep 0.3
kill -CONT "$PID"
wait "$pace"
out=$(cat "$TMP/stall")
check "a stall shows in the p99 counted from the due time, not in the one from the send" \
    python3 -c "
import sys
p99, send, mx, n, err = (float(x) for x in sys.argv[1:])
sys.exit(0 if p99 >= 100 and send < p99 / 2 and mx >= 250 and n == 3200 and err == 0 else 1)" \
    "$(field p99_ms "$out")" "$(field send_p99_ms "$out")" "$(field max_ms "$out")" \
    "$(field requests "$out")" "$(field errors "$out")" || echo "    $out"

# What it cannot run: a clear message and status 1 (2 for bad usage), no output line.
out=$("$PACE" -r 10 -d 0.1 -b "$BODY" https://127.0.0.1:1/validate 2>&1)
check "no server: exit 1 with the reason" \
    test "$?:$(grep -c 'connect to 127.0.0.1' <<<"$out")" = "1:1"
"$PACE" -r 10 -d 0.1 -b "$TMP/none" "https://127.0.0.1:$PORT/validate" >/dev/null 2>&1
check "a body file that does not exist: exit 1" test $? -eq 1
"$PACE" -r 0 -b "$BODY" "https://127.0.0.1:$PORT/validate" >/dev/null 2>&1
check "a rate of 0 is refused as usage (exit 2)" test $? -eq 2
"$PACE" -r 10 -d 0.1 -b "$BODY" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
check "a URL that is not https://HOST:PORT is refused (exit 1)" test $? -eq 1
# A server that accepts and never answers the ClientHello: pace gives up after 5 s.
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)" >"$TMP/mute.port" &
mute=$!
for _ in $(seq 1 50); do [ -s "$TMP/mute.port" ] && break; sleep 0.1; done
start=$(date +%s)
out=$(timeout 30 "$PACE" -r 10 -d 0.1 -b "$BODY" "https://127.0.0.1:$(cat "$TMP/mute.port")/" 2>&1)
rc=$?
kill "$mute" 2>/dev/null
check "a server that never answers the handshake: exit 1 within 5 s, not a hang" \
    test "$rc:$(grep -c 'TLS handshake' <<<"$out"):$(($(date +%s) - start <= 8))" = "1:1:1"

finish pace_test

#!/usr/bin/env bash
# transport_test.sh BIN - the server against hostile or unlucky clients, with raw sockets
# (transport_check.py): stalled TLS handshakes, slow request heads, ambiguous framing, and the
# requests in the air when SIGTERM comes. Set WRAP to run the server under a tool (make valgrind
# does). Prints "N passed, N failed" last; exits 1 if anything failed.
set -u

. "$(dirname "$0")/lib.sh"

cleanup() {
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

PY="$ROOT/tests/integration/transport_check.py"
export SLOW
mkdir -p "$TMP/policies"
"$BIN" certs generate --out "$TMP/certs" --host localhost --host 127.0.0.1 >/dev/null 2>&1
CA="$TMP/certs/ca.crt"

# py NAME MODE ARGS...: one Python scenario, its own ok/FAIL lines shown, counted as one check
py() {
    local name=$1
    shift
    if python3 "$PY" "$@" | sed 's/^/    /'; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        ok "$name"
    else
        not_ok "$name"
    fi
}

stop_server() { # stop_server NAME: SIGTERM, then its exit code must be 0
    kill -TERM "$PID" 2>/dev/null
    wait "$PID"
    check "the $1 server exits 0" test $? -eq 0
}

# 1. Stalled handshakes: 70 connections against --max-connections 64 that send nothing or half
# a ClientHello, held past the idle timeout (the head deadline is set long so that the idle
# timeout is what closes them), then closed by the clients.
start_server stall --allow-empty-policies --threads 2 --max-connections 64 --idle-timeout 1 --header-timeout 120 || exit 1
py "stalled TLS handshakes are closed by the idle timeout and freed" \
    stall "$PORT" "$CA" "$PID" 70 $((3 * SLOW))
stop_server stall

# 2. Slow request heads and 3. ambiguous framing, with a long idle timeout.
start_server head --allow-empty-policies --threads 2 --idle-timeout 120 --header-timeout 2 || exit 1
py "half-finished handshakes do not make the workers spin" spin "$PORT" "$CA" "$PID" 10 2
py "request heads have a deadline (--header-timeout)" head "$PORT" "$CA" 2
py "ambiguous framing headers are refused" framing "$PORT" "$CA"
check "a cut head is logged" \
    grep -q 'msg="request head deadline exceeded; connection closed"' "$LOG"
stop_server head

# 4. SIGTERM with busy keep-alive clients, idle ones and connections opened just before.
start_server drain --allow-empty-policies --threads 2 --drain-delay 0 --drain-timeout 30 --header-timeout 10 || exit 1
py "the drain answers every request received" \
    drain "$PORT" "$CA" "$PID" "$FIX/flinkdeployment-create-v1.request.json"
wait "$PID"
check "the drained server exits 0" test $? -eq 0
check "the drain is logged" grep -q 'msg=stopped' "$LOG"

finish transport_test

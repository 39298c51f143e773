# lib.sh - shared by the shell integration tests that start 'streamguard serve'; sourced
# after 'set -u' with the streamguard binary as $1.
#
# Sets BIN, ROOT, FIX (the captured AdmissionReviews), WRAP (a tool to run the server
# under, from the environment), SLOW (4 under a tool, else 1: waits are stretched by it),
# TMP (removed by the caller's EXIT trap) and the PASS/FAIL counters.

BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIX="$ROOT/tests/fixtures/admission"
WRAP=${WRAP:-}
TMP=$(mktemp -d)
PASS=0
FAIL=0
SLOW=1
[ -n "$WRAP" ] && SLOW=4 # valgrind is several times slower: stretch the waits

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; [ $# -gt 1 ] && printf '    %s\n' "${@:2}"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# start_server NAME [serve options]: serves $TMP/certs/tls.{crt,key} and $TMP/policies on a
# free loopback port; sets PID and PORT; the log goes to $TMP/NAME.log (LOG).
start_server() {
    local name=$1
    shift
    LOG="$TMP/$name.log"
    $WRAP "$BIN" serve --listen 127.0.0.1:0 --tls-cert "$TMP/certs/tls.crt" \
        --tls-key "$TMP/certs/tls.key" --policies "$TMP/policies" "$@" 2>"$LOG" &
    PID=$!
    for _ in $(seq 1 $((300 * SLOW))); do
        PORT=$(grep 'listening' "$LOG" 2>/dev/null | grep -o 'port=[0-9]*\|"port":[0-9]*' | grep -o '[0-9]*$')
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $name did not start:" >&2
    cat "$LOG" >&2
    return 1
}

# finish NAME: prints "NAME: N passed, N failed"; the status is 0 when nothing failed.
finish() {
    echo
    echo "$1: $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

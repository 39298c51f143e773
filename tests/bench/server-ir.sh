#!/usr/bin/env bash
# server-ir.sh [POLICY_DIR] [BODY] [N] - instructions (callgrind Ir) per POST /validate of the
# whole server: build/streamguard serve --threads 1 --no-cluster --log-level info under
# callgrind, 20 keep-alive POSTs of BODY on one connection to warm up, the counters zeroed, N
# more (default 300), a dump. Prints the whole server's Ir per request and the inclusive Ir of
# the main items, and keeps callgrind_annotate's output (its path is printed). The whole figure
# includes the counted connection's TLS handshake spread over the N requests (~13k at 300).
# Deterministic, unlike timings on a shared machine. Run from the repository's root after
# `make all`. Defaults: policies/ and the bench's review (the captured HA example).
set -euo pipefail
dir=${1:-policies}
body=${2:-tests/fixtures/admission/flinkdeployment-create-v1.request.json}
n=${3:-300}
t=$(mktemp -d /tmp/server-ir.XXXXXX)
extra=()
ls "$dir"/*.yaml >/dev/null 2>&1 || extra=(--allow-empty-policies)
./build/streamguard certs generate --out "$t/certs" --host 127.0.0.1 >/dev/null 2>&1
port=$((40000 + RANDOM % 20000))
valgrind --tool=callgrind --soname-synonyms=somalloc=libmimalloc.so.2 \
    --callgrind-out-file="$t/cg" ./build/streamguard serve --listen "127.0.0.1:$port" \
    --tls-cert "$t/certs/tls.crt" --tls-key "$t/certs/tls.key" --policies "$dir" \
    "${extra[@]}" --no-cluster --threads 1 --log-level info 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
posts() { # N: N POSTs of the body on one kept-alive connection, answers dropped
    local i
    for i in $(seq 1 "$1"); do
        printf 'url = "https://127.0.0.1:%s/validate"\noutput = "/dev/null"\n' "$port"
    done >"$t/urls"
    curl -sS -K "$t/urls" --cacert "$t/certs/ca.crt" -H 'Content-Type: application/json' \
        --data-binary @"$body"
}
posts 20
callgrind_control -z "$pid" >/dev/null 2>&1
posts "$n"
callgrind_control -d "$pid" >/dev/null 2>&1
kill "$pid"
wait "$pid" 2>/dev/null || true
f=$(ls -S "$t"/cg* | head -1) # the dump holds the serving thread
callgrind_annotate --inclusive=yes "$f" 2>/dev/null >"$t/annotate"
tot=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$t/annotate")
echo "whole server: $((tot / n)) Ir/request ($n requests)"
for fn in admission_request_decode admission_decide policy_engine_run \
          admission_response_encode log_request gnutls_record_recv gnutls_record_send; do
    v=$(grep -E "[:]$fn( |\$)" "$t/annotate" | head -1 | awk '{gsub(",", "", $1); print $1}')
    [ -n "$v" ] && echo "  $fn: $((v / n))"
done
echo "callgrind_annotate output: $t/annotate"

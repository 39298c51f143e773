#!/usr/bin/env bash
# server_test.sh BIN - end-to-end tests of 'streamguard serve' over real TLS.
#
# Starts the real server on a free loopback port (--listen 127.0.0.1:0) and talks to it with
# curl --cacert (certificate verification on) and openssl s_client. Covers every endpoint,
# every error code, TLS versions, keep-alive, slow clients, the connection cap, start-up
# checks and a SIGTERM drain. Set WRAP to run the server under a tool (make valgrind does);
# every server is stopped with SIGTERM and its exit code checked, so a tool's error exit
# fails the test. Prints "N passed, N failed" last; exits 1 if anything failed.
set -u

. "$(dirname "$0")/lib.sh"

# The sleeps that hold client connections open are direct children (exec sleep in a process
# substitution): reap them so that nothing outlives the test or holds its output pipe.
reap_sleeps() { pkill -P $$ -x sleep 2>/dev/null || true; }
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null
    reap_sleeps
    rm -rf "$TMP"
}
trap cleanup EXIT

# stop_server: SIGTERM, then wait; returns the server's exit code.
stop_server() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID"
}

CURL=(curl -sS --max-time $((10 * SLOW)) --cacert "$TMP/certs/ca.crt")
url() { echo "https://localhost:$PORT$1"; }

# post PATH FILE [curl options]: prints the body, then the status code on the last line.
post() {
    local path=$1 file=$2
    shift 2
    "${CURL[@]}" -H 'Content-Type: application/json' --data-binary @"$file" "$@" \
        -w '\n%{http_code}' "$(url "$path")"
}
# The log line is written once the reply is sent, so it may land just after curl returns (under
# valgrind it does): wait for it.
logged() { # logged PATTERN FILE: the pattern shows up in the log within a few seconds
    for _ in $(seq 1 $((30 * SLOW))); do grep -q "$1" "$2" && return 0; sleep 0.1; done
    return 1
}
scraped() { # scraped LINE: /metrics holds the line (after a few seconds at most)
    for _ in $(seq 1 $((30 * SLOW))); do
        grep -qxF "$1" <<<"$("${CURL[@]}" "$(url /metrics)")" && return 0
        sleep 0.1
    done
    return 1
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

mkdir -p "$TMP/policies"
"$BIN" certs generate --out "$TMP/certs" --host localhost --host 127.0.0.1 >"$TMP/ca.b64" 2>/dev/null
check "certs generate prints the CA bundle in base64" \
    cmp -s <(base64 -d "$TMP/ca.b64") "$TMP/certs/ca.crt"
"$BIN" certs generate --out "$TMP/other" --host localhost >/dev/null 2>&1

# ---------------------------------------------------------------- CLI surface
for cmd in serve certs version; do
    check "$cmd --help exits 0 and shows usage" \
        bash -c "'$BIN' $cmd --help | grep -q '^usage: streamguard $cmd'"
done
check "streamguard --help lists the commands" bash -c "'$BIN' --help | grep -q '^  serve '"
check "version prints the version" bash -c "'$BIN' version | grep -Eq '^streamguard [0-9]+\.[0-9]+\.[0-9]+ '"
"$BIN" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
"$BIN" serve --listen 127.0.0.1:0 >/dev/null 2>&1
check "serve without --tls-cert exits 2" test $? -eq 2
"$BIN" serve --tls-cert a --tls-key b --threads 0 >/dev/null 2>&1
check "serve --threads 0 exits 2" test $? -eq 2

# ---------------------------------------------------------------- start-up checks
startup_fails() { # startup_fails NAME PATTERN [serve options]: exit 1 and a clear log line
    local name=$1 pattern=$2
    shift 2
    $WRAP "$BIN" serve --listen 127.0.0.1:0 --policies "$TMP/policies" "$@" 2>"$TMP/$name.log"
    local rc=$?
    if [ $rc -eq 1 ] && grep -q "$pattern" "$TMP/$name.log"; then ok "start-up refuses: $name"; else
        not_ok "start-up refuses: $name" "exit $rc" "$(cat "$TMP/$name.log")"; fi
}
"$BIN" certs generate --out "$TMP/a" >/dev/null 2>&1
startup_fails "key of another certificate" "tls.mismatch" \
    --tls-cert "$TMP/a/tls.crt" --tls-key "$TMP/other/tls.key"
# An expired certificate, made with 'openssl ca', the one tool that backdates on OpenSSL 3.0.
mkdir -p "$TMP/exp/db" && : >"$TMP/exp/db/index" && echo 01 >"$TMP/exp/db/serial"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s\nserial=%s\nnew_certs_dir=%s\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
    "$TMP/exp/db/index" "$TMP/exp/db/serial" "$TMP/exp/db" >"$TMP/exp/ca.cnf"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/exp/old.key" \
    -out "$TMP/exp/old.csr" -subj /CN=localhost 2>/dev/null
openssl ca -batch -config "$TMP/exp/ca.cnf" -selfsign -keyfile "$TMP/exp/old.key" -in "$TMP/exp/old.csr" \
    -out "$TMP/exp/old.crt" -startdate 20200101000000Z -enddate 20200102000000Z -notext >/dev/null 2>&1
startup_fails "expired certificate" "tls.expired.*the certificate expired" \
    --tls-cert "$TMP/exp/old.crt" --tls-key "$TMP/exp/old.key"
startup_fails "missing certificate file" "io.read" --tls-cert "$TMP/nope.crt" --tls-key "$TMP/a/tls.key"
startup_fails "missing policy directory" "policy.dir" --tls-cert "$TMP/a/tls.crt" \
    --tls-key "$TMP/a/tls.key" --policies "$TMP/no-such-dir"

# ---------------------------------------------------------------- the main server
start_server main --allow-empty-policies --threads 2 --idle-timeout 3 --request-timeout 4 --drain-delay 1 \
    --drain-timeout 20 || exit 1
MAIN_PID=$PID

r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /healthz)")
check "GET /healthz is 200 ok" test "$(status_of "$r")" = 200 -a "$(body_of "$r")" = ok
r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /readyz)")
check "GET /readyz is 200 once certificate and policies are loaded" test "$(status_of "$r")" = 200
r=$("${CURL[@]}" -I -w '%{http_code}' -o /dev/null "$(url /healthz)")
check "HEAD /healthz is 200" test "$r" = 200
curl -sS --max-time 5 --cacert "$TMP/other/ca.crt" "$(url /healthz)" >/dev/null 2>&1
check "a client trusting another CA is refused (verification is really on)" test $? -ne 0
r=$("${CURL[@]}" -w '\n%{http_code}' "https://127.0.0.1:$PORT/healthz")
check "the certificate covers the IP address SAN" test "$(status_of "$r")" = 200

# Every request captured from kube-apiserver, to both review endpoints.
for f in "$FIX"/*.request.json; do
    name=$(basename "$f" .request.json)
    uid=$(grep -m1 -o '"uid": *"[^"]*"' "$f" | sed 's/.*"\([^"]*\)"$/\1/')
    apiv=$(grep -m1 -o '"apiVersion": *"admission[^"]*"' "$f" | sed 's/.*"\([^"]*\)"$/\1/')
    for ep in validate mutate; do
        r=$(post "/$ep?timeout=5s" "$f")
        b=$(body_of "$r")
        if [ "$(status_of "$r")" = 200 ] &&
            grep -q "^{\"apiVersion\":\"$apiv\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"$uid\",\"allowed\":true" <<<"$b"; then
            ok "$ep $name: 200, $apiv, uid echoed, allowed"
        else
            not_ok "$ep $name" "$r"
        fi
    done
done
check "one log line per review, with uid, op, kind, namespace, name, decision, latency" \
    grep -Eq 'msg=review endpoint=validate status=200 uid=655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833 op=CREATE kind=FlinkDeployment ns=default name=basic-checkpoint-ha-example decision=allowed dry_run=false .*ms=[0-9.]+' "$TMP/main.log"
check "dry-run reviews are logged as such" grep -q 'name=basic-reactive-example decision=allowed dry_run=true' "$TMP/main.log"
check "DELETE reviews are logged with their operation" grep -q 'op=DELETE kind=FlinkDeployment' "$TMP/main.log"
# A review whose namespace and name carry a newline, quotes and '=' (a direct caller can send
# anything) must stay one quoted value in one log line: no forged second line or pair.
python3 - "$FIX/flinkdeployment-create-v1.request.json" "$TMP/forge.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["request"]
r["uid"] = "forge-uid"
r["namespace"] = "default\nts=2026-01-01T00:00:00Z level=error component=http msg=forged"
r["name"] = 'x" decision=allowed'
r["object"]["metadata"]["namespace"] = r["namespace"]
r["object"]["metadata"]["name"] = r["name"]
json.dump(d, open(sys.argv[2], "w"))
PY
post /validate "$TMP/forge.json" >/dev/null
logged 'uid=forge-uid' "$TMP/main.log"
check "a newline in a namespace cannot forge a log line" \
    bash -c "! grep -q '^ts=2026-01-01T00:00:00Z' '$TMP/main.log' && grep -qF 'uid=forge-uid op=CREATE kind=FlinkDeployment ns=\"default\\nts=2026-01-01T00:00:00Z level=error component=http msg=forged\" name=\"x\\\" decision=allowed\" decision=allowed' '$TMP/main.log'"

# Errors: each a bounded JSON Status naming the problem.
expect_error() { # expect_error NAME CODE PATTERN CURL-ARGS...
    local name=$1 code=$2 pattern=$3
    shift 3
    local r
    r=$("${CURL[@]}" -w '\n%{http_code}' "$@")
    if [ "$(status_of "$r")" = "$code" ] && grep -q "\"kind\":\"Status\".*$pattern.*\"code\":$code}" <<<"$(body_of "$r")"; then
        ok "$name: $code"
    else
        not_ok "$name: $code" "$r"
    fi
}
printf '{"apiVersion":"admission.k8s.io/v1",' >"$TMP/truncated.json"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}' >"$TMP/norequest.json"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{}}}' >"$TMP/nouid.json"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"ConfigMap","request":{}}' >"$TMP/wrongkind.json"
printf '[1,2,3]' >"$TMP/array.json"
: >"$TMP/empty.json"
J=(-H 'Content-Type: application/json')
expect_error "malformed JSON" 400 '"message":"invalid AdmissionReview: invalid JSON near byte' "${J[@]}" --data-binary @"$TMP/truncated.json" "$(url /validate)"
expect_error "empty body" 400 'the body is empty' "${J[@]}" --data-binary @"$TMP/empty.json" "$(url /validate)"
expect_error "missing request" 400 'request is missing' "${J[@]}" --data-binary @"$TMP/norequest.json" "$(url /mutate)"
expect_error "missing uid" 400 'request.uid is missing' "${J[@]}" --data-binary @"$TMP/nouid.json" "$(url /validate)"
expect_error "wrong kind" 400 "kind must be AdmissionReview, not 'ConfigMap'" "${J[@]}" --data-binary @"$TMP/wrongkind.json" "$(url /validate)"
# Bodies Go (kube-apiserver) and cJSON would read differently, or that kube-apiserver never sends.
sed 's/"namespace": *"default"/"namespace": "def\xc0\xafault"/' "$FIX/flinkdeployment-create-v1.request.json" >"$TMP/overlong.json"
sed 's/"namespace": *"default"/"namespace": "\xed\xa0\x80"/' "$FIX/flinkdeployment-create-v1.request.json" >"$TMP/surrogate.json"
sed 's|"name": *"basic-checkpoint-ha-example"|"name": "\\u0000/tmp/cp"|' "$FIX/flinkdeployment-create-v1.request.json" >"$TMP/nul.json"
sed '0,/"kind": *"FlinkDeployment",/s//"kind": "FlinkSessionJob",/' "$FIX/flinkdeployment-create-v1.request.json" >"$TMP/kindmix.json"
grep -q '"kind": *"FlinkSessionJob"' "$TMP/kindmix.json" || not_ok "kindmix.json was not made"
expect_error "an overlong UTF-8 form" 400 'invalid UTF-8 at byte' "${J[@]}" --data-binary @"$TMP/overlong.json" "$(url /validate)"
expect_error "a UTF-8 surrogate" 400 'invalid UTF-8 at byte' "${J[@]}" --data-binary @"$TMP/surrogate.json" "$(url /validate)"
expect_error "a \\u0000 in a string" 400 'a NUL character (a \\\\u0000 escape or a NUL byte)' "${J[@]}" --data-binary @"$TMP/nul.json" "$(url /validate)"
expect_error "object.kind other than request.kind" 400 'request.object is flink.apache.org/v1beta1 FlinkSessionJob, but request.kind is flink.apache.org/v1beta1 FlinkDeployment' "${J[@]}" --data-binary @"$TMP/kindmix.json" "$(url /validate)"
expect_error "JSON that is not an object" 400 'the body must be a JSON object' "${J[@]}" --data-binary @"$TMP/array.json" "$(url /validate)"
expect_error "unknown path" 404 'no such endpoint: /admit' "$(url /admit)"
expect_error "root path" 404 'no such endpoint' -X POST "${J[@]}" --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /)"
expect_error "GET /validate" 405 'method GET is not allowed; use POST' "$(url /validate)"
expect_error "PUT /mutate" 405 'method PUT is not allowed' -X PUT "${J[@]}" --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /mutate)"
expect_error "POST /healthz" 405 'use GET' -X POST -d x "$(url /healthz)"
check "405 carries an Allow header" bash -c "$(printf '%q ' "${CURL[@]}") -D - -o /dev/null '$(url /validate)' | grep -qi '^allow: POST'"
expect_error "text/plain body" 415 "content type 'text/plain' is not supported" -H 'Content-Type: text/plain' --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /validate)"
expect_error "no content type" 415 'is not supported; use application/json' -H 'Content-Type:' --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /validate)"
expect_error "form content type" 415 'application/x-www-form-urlencoded' --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /validate)"

# Body cap: 3 MiB. Over it by Content-Length: 413 before reading. Chunked: 413 without
# buffering. Just under it: a real review that is answered.
head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$TMP/huge.json"
expect_error "4 MiB body" 413 'the body is larger than 3145728 bytes' "${J[@]}" --data-binary @"$TMP/huge.json" "$(url /validate)"
expect_error "4 MiB chunked body" 413 'the body is larger than 3145728 bytes' "${J[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/huge.json" "$(url /validate)"
{
    printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big-1","kind":{"group":"flink.apache.org","version":"v1beta1","kind":"FlinkDeployment"},"operation":"CREATE","name":"big","namespace":"default","object":{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"name":"big","annotations":{"pad":"'
    head -c $((3 * 1024 * 1024 - 400)) /dev/zero | tr '\0' 'y'
    printf '"}}}}}'
} >"$TMP/large.json"
r=$(post /validate "$TMP/large.json")
check "a review just under 3 MiB is answered ($(stat -c %s "$TMP/large.json") bytes)" \
    grep -q '"uid":"big-1","allowed":true' <<<"$r"
expect_error "metrics stays up after abuse" 405 'use GET' -X DELETE "$(url /metrics)"

# Request lines and headers larger than the 8 KiB connection pool; a head that fits it (a
# review with a 6 KB bearer token, as a webhook kubeconfig may make kube-apiserver send) is
# answered.
TOKEN=$(head -c 6000 /dev/zero | tr '\0' t)
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json" \
    -H "Authorization: Bearer $TOKEN")
check "a 6 KB Authorization header: the review is answered" \
    grep -q '"uid":"655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833","allowed":' <<<"$r"
# Each header line costs about 100 bytes of the pool: 50 short ones (with curl's and post's own)
# are answered with a review, 100 are refused with 431 (docs/server.md: about 64 lines at most
# with a body; a GET, whose read buffer libmicrohttpd shrinks, takes about twice as many).
HDRS=()
for i in $(seq 1 50); do HDRS+=(-H "X-Hop-$i: v"); done
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json" "${HDRS[@]}")
check "50 short header lines: the review is answered" \
    grep -q '"uid":"655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833","allowed":' <<<"$r"
for i in $(seq 51 100); do HDRS+=(-H "X-Hop-$i: v"); done
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json" "${HDRS[@]}" | tail -1)
check "a review with 100 short header lines: 431" test "$r" = 431
BIG=$(head -c 20000 /dev/zero | tr '\0' a)
r=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "X-Big: $BIG" "$(url /healthz)")
check "20 KB of headers: 431" test "$r" = 431
r=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$(url "/$BIG")")
check "a 20 KB URI: 414" test "$r" = 414

# Hostile JSON: deep nesting and many keys are refused or answered, never a crash.
python_free_nest() { printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"n","kind":{"version":"v1","kind":"X"},"operation":"CREATE","object":{"a":'
    head -c 200000 /dev/zero | tr '\0' '['
    head -c 200000 /dev/zero | tr '\0' ']'
    printf '}}}'; }
python_free_nest >"$TMP/nested.json"
expect_error "200000 levels of nesting" 400 'invalid JSON' "${J[@]}" --data-binary @"$TMP/nested.json" "$(url /validate)"
r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /healthz)")
check "the server is alive after the hostile bodies" test "$(status_of "$r")" = 200

# TLS versions: 1.2 and 1.3 accepted, 1.0 and 1.1 refused by the server (the client is told
# to offer them with SECLEVEL=0, so a refusal is the server's).
handshake() { # handshake VERSION: prints the negotiated cipher or (NONE)
    openssl s_client -connect "127.0.0.1:$PORT" "-$1" -cipher 'DEFAULT@SECLEVEL=0' \
        -CAfile "$TMP/certs/ca.crt" </dev/null 2>&1 | grep -o 'Cipher is .*' | head -1
}
for v in tls1_2 tls1_3; do
    c=$(handshake $v)
    check "TLS $v is accepted ($c)" bash -c "[ -n '$c' ] && [ '$c' != 'Cipher is (NONE)' ]"
done
for v in tls1 tls1_1; do
    out=$(openssl s_client -connect "127.0.0.1:$PORT" "-$v" -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
    if grep -q 'Cipher is (NONE)' <<<"$out" && ! grep -q 'no protocols available' <<<"$out"; then
        ok "TLS $v is refused by the server"
    else
        not_ok "TLS $v is refused by the server" "$(grep -E 'Cipher|error' <<<"$out" | head -3)"
    fi
done
c=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher 'AES128-SHA' </dev/null 2>&1 | grep -o 'Cipher is .*' | head -1)
check "TLS 1.2 without forward secrecy (RSA key exchange, CBC) is refused" test "$c" = 'Cipher is (NONE)'

# Keep-alive: several requests on one connection (kube-apiserver pools connections).
out=$("${CURL[@]}" -v -o /dev/null -o /dev/null "$(url /healthz)" "$(url /readyz)" --next \
    --cacert "$TMP/certs/ca.crt" -o /dev/null -H 'Content-Type: application/json' \
    --data-binary @"$FIX/flinkdeployment-create-v1.request.json" "$(url /validate)" 2>&1)
check "keep-alive: three requests, one TLS connection" \
    test "$(grep -c 'Re-using existing connection' <<<"$out")" -ge 2 -a "$(grep -c 'SSL connection using' <<<"$out")" -eq 1

# Slow clients: headers that never finish are cut by the idle timeout (3 s); a body that
# trickles in under the idle timeout is cut by the request deadline (4 s). The client's
# input comes through process substitution so that only its own lifetime is timed: it ends
# when the server closes the connection.
t0=$(date +%s)
timeout $((30 * SLOW)) openssl s_client -quiet -connect "127.0.0.1:$PORT" \
    < <(printf 'POST /validate HTTP/1.1\r\nHost: x\r\n'; exec sleep $((30 * SLOW))) >/dev/null 2>&1
t=$(($(date +%s) - t0))
reap_sleeps
check "slowloris headers are cut off by the idle timeout (closed after ${t}s)" test $t -le $((8 * SLOW))
t0=$(date +%s)
timeout 40 openssl s_client -quiet -connect "127.0.0.1:$PORT" < <(
    printf 'POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n'
    for _ in $(seq 1 30); do printf '{'; sleep 1; done) >/dev/null 2>&1
t=$(($(date +%s) - t0))
check "a trickling body is cut off by the request deadline (closed after ${t}s)" test $t -le $((12 * SLOW))

# Metrics reflect what happened.
m=$("${CURL[@]}" "$(url /metrics)")
for want in 'streamguard_http_requests_total{endpoint="validate",code="200",decision="allowed"}' \
    'streamguard_http_requests_total{endpoint="mutate",code="200",decision="allowed"}' \
    'streamguard_http_requests_total{endpoint="validate",code="400",decision="invalid"}' \
    'streamguard_http_requests_total{endpoint="validate",code="413",decision="none"}' \
    'streamguard_http_requests_total{endpoint="validate",code="415",decision="none"}' \
    'streamguard_http_requests_total{endpoint="validate",code="405",decision="none"}' \
    'streamguard_http_requests_total{endpoint="other",code="404",decision="none"}' \
    'streamguard_review_duration_seconds_bucket{endpoint="validate",le="+Inf"}' \
    'streamguard_http_requests_in_flight 1' 'streamguard_ready 1' 'streamguard_build_info{version=' \
    'streamguard_empty_policy_sets_total{result="served"} 1'; do
    check "metrics: $want" grep -qF "$want" <<<"$m"
done
check "serving an empty set (--allow-empty-policies) is a warning in the log" \
    grep -q 'level=warn component=policy msg="serving an empty policy set: every review is allowed"' "$TMP/main.log"
check "metrics: the certificate's notAfter" grep -Eq '^streamguard_tls_certificate_not_after_seconds [1-9][0-9]{9}$' <<<"$m"

# SIGTERM: readyz turns 503 (during --drain-delay), a request in flight completes, new
# connections are refused after the delay, and the process exits 0.
{
    printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"in-flight-1","kind":{"group":"flink.apache.org","version":"v1beta1","kind":"FlinkDeployment"},"operation":"CREATE","object":{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"annotations":{"pad":"'
    head -c 800000 /dev/zero | tr '\0' 'z'
    printf '"}}}}}'
} >"$TMP/slow.json"
post /validate "$TMP/slow.json" --limit-rate 400k >"$TMP/inflight.out" 2>&1 &
SLOW_CURL=$!
sleep 0.5
kill -TERM "$MAIN_PID"
sleep 0.3
r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /readyz)")
check "readyz is 503 while draining" test "$(status_of "$r")" = 503 -a "$(body_of "$r")" = draining
wait "$SLOW_CURL"
check "the request in flight at SIGTERM completes (200, allowed)" \
    grep -q '"uid":"in-flight-1","allowed":true' "$TMP/inflight.out"
sleep $((1 * SLOW))
curl -sS --max-time 3 --cacert "$TMP/certs/ca.crt" "$(url /healthz)" >/dev/null 2>&1
check "new connections are refused after the drain delay" test $? -ne 0
wait "$MAIN_PID"
rc=$?
check "the server exits 0 after draining" test $rc -eq 0
check "the drain is logged" bash -c "grep -q 'msg=draining signal=SIGTERM' '$TMP/main.log' && grep -q 'msg=stopped' '$TMP/main.log'"

# Connection cap: with 4 idle connections held open (and long idle and head timeouts, so
# nothing frees a slot by itself) a fifth client is not served: it waits in the listen backlog
# until its own timeout. Service resumes as soon as the idle connections go.
start_server cap --allow-empty-policies --threads 2 --max-connections 4 --idle-timeout 120 --header-timeout 120 || exit 1
mkfifo "$TMP/hold"
exec 7<>"$TMP/hold" # an input that never ends and never sends: the clients just sit there
HOLDERS=()
for _ in 1 2 3 4; do
    openssl s_client -quiet -connect "127.0.0.1:$PORT" <"$TMP/hold" >/dev/null 2>&1 &
    HOLDERS+=($!)
done
sleep $((2 * SLOW))
curl -sS --max-time $((2 * SLOW)) --cacert "$TMP/certs/ca.crt" "$(url /healthz)" >/dev/null 2>&1
check "a connection over --max-connections is not served" test $? -ne 0
kill "${HOLDERS[@]}" 2>/dev/null
wait "${HOLDERS[@]}" 2>/dev/null
exec 7>&-
r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /healthz)")
check "service resumes once the connections close" test "$(status_of "$r")" = 200
stop_server
check "the capped server exits 0" test $? -eq 0

# JSON logs, and a clean exit on SIGINT.
start_server json --allow-empty-policies --log-format json --threads 1 || exit 1
post /validate "$FIX/flinkdeployment-create-v1.request.json" >/dev/null
post /validate "$TMP/forge.json" >/dev/null
stop_server
rc=$?
check "SIGINT/SIGTERM with nothing in flight exits 0" test $rc -eq 0
check "JSON logs: every line parses, request text stays one string, booleans and numbers typed" \
    python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
rev = [r for r in recs if r.get("uid") == "forge-uid"]
assert len(rev) == 1 and rev[0]["ns"].startswith("default\nts=") and rev[0]["dry_run"] is False
assert rev[0]["patched"] is False and rev[0]["status"] == 200 and isinstance(rev[0]["ms"], float)
assert not any(r.get("msg") == "forged" for r in recs)
' "$TMP/json.log"
check "--log-format json writes one JSON object per line" \
    bash -c "grep -q '^{\"ts\":\"[0-9T:.Z-]*\",\"level\":\"info\",\"component\":\"http\",\"msg\":\"review\",.*\"decision\":\"allowed\"' '$TMP/json.log' && ! grep -qv '^{.*}$' '$TMP/json.log'"

# With policies: a deny (422, field, reason, details.causes), a warning and a patch, through the real server.
mkdir -p "$TMP/flink-policies"
cp "$ROOT/tests/fixtures/policy/server/flink.yaml" "$TMP/flink-policies/"
start_server policies --threads 2 --policies "$TMP/flink-policies" || exit 1
check "start-up logs the policy count" grep -q 'policy_count=3 enforcement=deny' "$TMP/policies.log"
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "a policy denies: allowed false, 422 Invalid, [policy] field: message, and the causes kubectl 1.20 prints" \
    grep -q '"allowed":false,"status":{"code":422,"status":"Failure","reason":"Invalid","message":"\[test-ha-not-local\] spec.flinkConfiguration.high-availability.storageDir: HA storage file:///flink-data/ha is local","details":{"name":"basic-checkpoint-ha-example","group":"flink.apache.org","kind":"FlinkDeployment","causes":\[{"reason":"FieldValueInvalid","message":"\[test-ha-not-local\] HA storage file:///flink-data/ha is local","field":"spec.flinkConfiguration.high-availability.storageDir"}\]}}' <<<"$r"
check "the same review also carries the warning" grep -q '"warnings":\["\[test-warn-savepoint\] savepoint upgrades are slow"\]' <<<"$r"
check "every deny is logged with its policy" logged 'decision=denied .*reason="\[test-ha-not-local\]' "$TMP/policies.log"
check "the review line names the policies by what they did" \
    logged 'decision=denied .*denied_by=test-ha-not-local would_deny_by=- warned_by=test-warn-savepoint audited_by=-' "$TMP/policies.log"
r=$(post /mutate "$FIX/flinkdeployment-create-v1beta1.request.json")
patch=$(grep -o '"patch":"[^"]*"' <<<"$r" | cut -d'"' -f4 | base64 -d)
check "a mutation answers with one JSON Patch" \
    test "$patch" = '[{"op":"add","path":"/spec/flinkConfiguration/restart-strategy.type","value":"fixed-delay"}]'
check "the patch comes with patchType JSONPatch" grep -q '"patchType":"JSONPatch"' <<<"$r"
r=$(post /validate "$FIX/flinkdeployment-delete-v1.request.json")
check "DELETE is not matched by rules without operations" grep -q '"allowed":true}}$' <<<"$r"
# Counted in on_completed(), just after the reply: poll.
for want in 'streamguard_policy_results_total{policy="test-ha-not-local",action="deny",result="fail"} 1' \
    'streamguard_policy_results_total{policy="test-ha-not-local",action="deny",result="pass"} 0' \
    'streamguard_policy_results_total{policy="test-warn-savepoint",action="warn",result="fail"} 1' \
    'streamguard_policy_results_total{policy="test-restart-strategy",action="mutate",result="pass"} 1' \
    'streamguard_policy_evaluation_seconds_count{policy="test-ha-not-local"} 1' \
    'streamguard_reviews_total{endpoint="validate",decision="denied",enforcement="deny"} 1' \
    'streamguard_reviews_total{endpoint="validate",decision="allowed",enforcement="deny"} 1' \
    'streamguard_reviews_total{endpoint="mutate",decision="allowed",enforcement="deny"} 1'; do
    check "metrics: $want" scraped "$want"
done
if command -v promtool >/dev/null; then
    check "promtool check metrics accepts /metrics with per-policy series" \
        bash -c 'promtool check metrics <<<"$1"' _ "$("${CURL[@]}" "$(url /metrics)")"
fi
stop_server
check "the server with policies exits 0" test $? -eq 0
# An evaluation error (one only the run can find: int <= string) is logged with the rule, its file:line, the error and the expression, also
# when failurePolicy Ignore makes it only a warning in the answer.
mkdir -p "$TMP/broken-policies"
cat >"$TMP/broken-policies/broken.yaml" <<'EOF'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: test-broken}
spec:
  failurePolicy: Ignore
  match:
    resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment]}]
  validations:
    - expression: object.spec.job.parallelism <= object.metadata.name
EOF
start_server broken --threads 1 --policies "$TMP/broken-policies" || exit 1
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "an Ignore policy's evaluation error is a warning naming the rule" \
    grep -q '"allowed":true,"warnings":\["\[test-broken\] validations\[0\] (.*broken.yaml:9) could not be evaluated: ' <<<"$r"
check "the review line's errors field names the rule, file:line, error and expression" \
    logged 'decision=allowed .*errors="\[test-broken\] validations\[0\] (.*broken-policies/broken.yaml:9) could not be evaluated: .* in `object.spec.job.parallelism <= object.metadata.name`"' "$TMP/broken.log"
stop_server
check "the server with a broken policy exits 0" test $? -eq 0
# --enforcement warn: the deny is a warning; the log line and the counters say it would have denied.
start_server policies-warn --threads 2 --policies "$TMP/flink-policies" --enforcement warn || exit 1
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "warn mode: the review is allowed with the deny as a warning" \
    grep -q '"allowed":true,"warnings":\["\[test-ha-not-local\] spec.flinkConfiguration.high-availability.storageDir: HA storage file:///flink-data/ha is local","\[test-warn-savepoint\]' <<<"$r"
check "warn mode: the review line names the policy that would have denied, and its message" \
    logged 'decision=allowed .*denied_by=- would_deny_by=test-ha-not-local warned_by=test-warn-savepoint audited_by=- reason="\[test-ha-not-local\] spec.flinkConfiguration.high-availability.storageDir: HA storage file:///flink-data/ha is local"' \
    "$TMP/policies-warn.log"
for want in 'streamguard_reviews_total{endpoint="validate",decision="would_deny",enforcement="warn"} 1' \
    'streamguard_policy_results_total{policy="test-ha-not-local",action="deny",result="fail"} 1'; do
    check "warn mode metrics: $want" scraped "$want"
done
stop_server
check "the server in warn mode exits 0" test $? -eq 0
# Without a cluster to ask, every lookup() is an evaluation error: the Flink policies look up
# the Flink operator's default configuration (a ConfigMap), so a Deny policy (failurePolicy
# Fail) denies, saying so, and never judges the spec alone.
start_server shipped-nocluster --threads 2 --policies "$ROOT/policies" || exit 1
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "shipped, no cluster: the operator's defaults cannot be read, so denied" \
    grep -q '"allowed":false.*lookup(v1, ConfigMap, default, flink-operator-config): the cluster could not be asked' <<<"$r"
stop_server
# The shipped policies, through the real server, on the reviews kube-apiserver sent, with no
# cluster on purpose (lookup() finds nothing: no operator defaults, no claims).
start_server shipped --threads 2 --policies "$ROOT/policies" --no-cluster || exit 1
# Every Policy document of policies/ (other branches add policies: counted, not written here).
SHIPPED=$(cat "$ROOT"/policies/*.yaml | grep -c '^kind: Policy$')
check "the shipped policies load ($SHIPPED)" grep -q "policy_count=$SHIPPED enforcement=deny" "$TMP/shipped.log"
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "shipped: HA on a hostPath is denied (422) by flink-ha-storage-rwx" \
    grep -q '"allowed":false,"status":{"code":422,"status":"Failure","reason":"Invalid","message":"\[flink-ha-storage-rwx\] spec.flinkConfiguration: high-availability.storageDir file:///flink-data/ha is on volume flink-volume (hostPath)' <<<"$r"
r=$(post /mutate "$FIX/flinkdeployment-create-v1.request.json")
patch=$(grep -o '"patch":"[^"]*"' <<<"$r" | cut -d'"' -f4 | base64 -d)
# Flink 2.2: its own restart strategy default is kept (FLIP-364), only the reporter is added.
check "shipped: /mutate adds the Prometheus reporter, and no restart strategy to Flink 2.2" \
    test "$patch" = '[{"op":"add","path":"/spec/flinkConfiguration/metrics.reporter.prom.factory.class","value":"org.apache.flink.metrics.prometheus.PrometheusReporterFactory"},{"op":"add","path":"/spec/flinkConfiguration/metrics.reporter.prom.port","value":"9249"}]'
r=$(post /validate "$FIX/k8ssandracluster-create-v1.request.json")
check "shipped: a Stargate heap of 256M against Cassandra's 512M is allowed with a warning" \
    grep -q '"allowed":true,"warnings":\[.*"\[k8ssandra-stargate-heap-matches-cassandra\] spec.cassandra.datacenters: datacenter dc1 stargate: Stargate heapSize 256M differs from the Cassandra heap 512M' <<<"$r"
r=$(post /validate "$FIX/flinksessionjob-create-v1.request.json")
check "shipped: a plain FlinkSessionJob is allowed" grep -q '"allowed":true}}$' <<<"$r"
stop_server
check "the server with the shipped policies exits 0" test $? -eq 0
# --client-ca: /validate and /mutate want a client certificate from that CA; probes do not.
"$BIN" certs generate --out "$TMP/client" --host kube-apiserver >/dev/null 2>&1
start_server clientca --allow-empty-policies --threads 2 --client-ca "$TMP/client/ca.crt" || exit 1
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json" --cert "$TMP/client/tls.crt" --key "$TMP/client/tls.key")
check "client CA: a certificate it signed is let through (200)" test "$(status_of "$r")" = 200
r=$(post /validate "$FIX/flinkdeployment-create-v1.request.json")
check "client CA: no client certificate is 401 Unauthorized" \
    bash -c "test '$(status_of "$r")' = 401 && grep -q '\"reason\":\"Unauthorized\"' <<<'$(body_of "$r")'"
r=$(post /mutate "$FIX/flinkdeployment-create-v1.request.json" --cert "$TMP/other/tls.crt" --key "$TMP/other/tls.key")
check "client CA: a certificate from another CA is 401" test "$(status_of "$r")" = 401
r=$("${CURL[@]}" -w '\n%{http_code}' "$(url /healthz)")
check "client CA: probes need no client certificate" test "$(status_of "$r")" = 200
stop_server
check "the server with a client CA exits 0" test $? -eq 0
mkdir -p "$TMP/bad-policies"
cp "$ROOT/tests/fixtures/policy/lint/bad-schema.yaml" "$TMP/bad-policies/"
$WRAP "$BIN" serve --listen 127.0.0.1:0 --tls-cert "$TMP/certs/tls.crt" --tls-key "$TMP/certs/tls.key" \
    --policies "$TMP/bad-policies" 2>"$TMP/badpol.log"
rc=$?
check "a policy with errors stops the start (exit 1, position logged)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'bad-schema.yaml:6:11: error\[policy.schema\]' '$TMP/badpol.log'"
# No policy at all (an empty ConfigMap, a wrong mount) would allow every review: refused
# unless --allow-empty-policies. A directory of files that hold no Policy is empty too.
mkdir -p "$TMP/no-policies"
printf '# nothing here yet\n' >"$TMP/no-policies/readme.yaml"
for dir in policies no-policies; do
    timeout $((20 * SLOW)) $WRAP "$BIN" serve --listen 127.0.0.1:0 --tls-cert "$TMP/certs/tls.crt" \
        --tls-key "$TMP/certs/tls.key" --policies "$TMP/$dir" 2>"$TMP/empty-$dir.log"
    rc=$?
    check "an empty policy directory ($dir) stops the start (exit 1, policy.empty)" \
        bash -c "[ $rc -eq 1 ] && grep -q 'error\[policy.empty\]: the policy directory holds no policy' '$TMP/empty-$dir.log'"
done

# A port in use is a clear start-up error.
start_server holder --allow-empty-policies --threads 1 || exit 1
HOLD_PORT=$PORT
$WRAP "$BIN" serve --listen "127.0.0.1:$HOLD_PORT" --tls-cert "$TMP/certs/tls.crt" \
    --tls-key "$TMP/certs/tls.key" --policies "$TMP/policies" --allow-empty-policies 2>"$TMP/inuse.log"
rc=$?
check "a port in use exits 1 with a reason" bash -c "[ $rc -eq 1 ] && grep -q 'server.start.*cannot serve on' '$TMP/inuse.log'"
stop_server

if [ -n "$WRAP" ]; then
    check "no valgrind errors in the server logs" bash -c "! grep -l 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]\|indirectly lost: [1-9]' $ROOT/build/valgrind-*.log 2>/dev/null | grep -q ."
fi

finish integration

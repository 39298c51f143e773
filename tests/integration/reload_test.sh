#!/usr/bin/env bash
# reload_test.sh BIN - certificate and policy reload under load, as Kubernetes does it.
#
# The certificate and the policies live in directories laid out like kubelet's Secret and
# ConfigMap volumes: the files are symlinks into "..data", itself a symlink to a timestamped
# directory, and an update writes a new directory and renames a new "..data" over the old one.
# While two clients send reviews without pause (one opening a new TLS connection per request,
# one keeping a connection alive), the certificate is rotated 20 times and the policies
# reloaded 20 times, a quarter of them with broken files. Checked: no request fails; after
# each rotation new handshakes get the new certificate (by serial); a broken policy set leaves
# the previous one serving; the metrics count each reload by result; SIGHUP reloads too.
# Set WRAP to run the server under a tool. Prints "N passed, N failed" last.
set -u

. "$(dirname "$0")/lib.sh"

ROTATIONS=${ROTATIONS:-20}
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# kubelet_update DIR SRC...: a new "..data" for DIR holding copies of the SRC files, swapped in
# with one rename; the visible names are symlinks through "..data".
N=0
kubelet_update() {
    local dir=$1
    shift
    N=$((N + 1))
    local ts="..$(date +%Y_%m_%d_%H_%M_%S).$N"
    mkdir -p "$dir/$ts"
    for f in "$@"; do cp "$f" "$dir/$ts/"; done
    local old
    old=$(readlink "$dir/..data" 2>/dev/null || true)
    ln -s "$ts" "$dir/..data_tmp"
    mv -T "$dir/..data_tmp" "$dir/..data"
    for f in "$@"; do
        local b
        b=$(basename "$f")
        [ -L "$dir/$b" ] || ln -s "..data/$b" "$dir/$b"
    done
    [ -n "$old" ] && rm -rf "${dir:?}/$old"
    return 0
}

# ---- certificates: 1 + ROTATIONS pairs, each with its own CA; clients trust all the CAs
for i in $(seq 0 "$ROTATIONS"); do
    "$BIN" certs generate --out "$TMP/gen/$i" --host localhost --host 127.0.0.1 --days 2 >/dev/null 2>&1
    cat "$TMP/gen/$i/ca.crt" >>"$TMP/cas.pem"
done
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

# ---- policies: two valid sets that answer differently, and broken files
mkdir -p "$TMP/pol-a" "$TMP/pol-b" "$TMP/pol-bad"
cat >"$TMP/pol-a/set.yaml" <<'EOF'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: set-a}
spec:
  action: Warn
  match: {resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment]}]}
  validations: [{expression: "false", message: served by set A}]
EOF
sed 's/set-a/set-b/; s/set A/set B/' "$TMP/pol-a/set.yaml" >"$TMP/pol-b/set.yaml"
sed 's/expression: "false"/expression: "object.spec.(("/' "$TMP/pol-a/set.yaml" >"$TMP/pol-bad/set.yaml"

mkdir -p "$TMP/certs" "$TMP/policies"
kubelet_update "$TMP/certs" "$TMP/gen/0/tls.crt" "$TMP/gen/0/tls.key"
kubelet_update "$TMP/policies" "$TMP/pol-a/set.yaml"

start_server server --threads 2 --tls-server-name localhost || exit 1
URL="https://localhost:$PORT/validate"
CURL=(curl -sS --max-time $((10 * SLOW)) --cacert "$TMP/cas.pem" -H 'Content-Type: application/json'
      --data-binary @"$FIX/flinkdeployment-create-v1.request.json")

# the streamguard_last_reload_success gauge of KIND (certificate, policies) now
outcome() {
    curl -sS --cacert "$TMP/cas.pem" "https://localhost:$PORT/metrics" |
        sed -n "s/^streamguard_last_reload_success{kind=\"$1\"} \([01]\)$/\1/p"
}

# which set answers a review now ("A", "B", or what came instead)
served_set() { "${CURL[@]}" "$URL" | grep -o 'served by set [AB]' | tail -c 2; }

# ---- the clients: run until $TMP/stop exists; each line of their output is an HTTP code
( while [ ! -e "$TMP/stop" ]; do "${CURL[@]}" -o /dev/null -w '%{http_code}\n' "$URL" || echo "curl-exit-$?"; done ) \
    >"$TMP/new-conn.out" 2>&1 &
NEWCONN=$!
( while [ ! -e "$TMP/stop" ]; do
      # 50 requests on one kept-alive connection per curl run
      args=()
      for _ in $(seq 1 50); do args+=(-o /dev/null "$URL"); done
      "${CURL[@]}" -w '%{http_code} %{num_connects}\n' "${args[@]}" || echo "curl-exit-$?"
  done ) >"$TMP/keepalive.out" 2>&1 &
KEEP=$!
sleep 0.5

# ---- rotate the certificate
rotated_ok=0
for i in $(seq 1 "$ROTATIONS"); do
    want=$(serial_of "$TMP/gen/$i/tls.crt")
    kubelet_update "$TMP/certs" "$TMP/gen/$i/tls.crt" "$TMP/gen/$i/tls.key"
    got=""
    for _ in $(seq 1 $((50 * SLOW))); do
        got=$(served_serial)
        [ "$got" = "$want" ] && break
        sleep 0.1
    done
    if [ "$got" = "$want" ]; then rotated_ok=$((rotated_ok + 1)); else
        not_ok "rotation $i: serial $want served" "got '$got'"; fi
    sleep 0.2
done
check "the new certificate is served after each of $ROTATIONS rotations" test "$rotated_ok" -eq "$ROTATIONS"

# a broken pair (the key of another certificate) is refused and the current one stays
current=$(served_serial)
kubelet_update "$TMP/certs" "$TMP/gen/1/tls.crt" "$TMP/gen/2/tls.key"
sleep $((1 * SLOW))
check "a key that does not match leaves the current certificate serving" test "$(served_serial)" = "$current"
check "the refused pair is logged with the reason" grep -q 'certificate reload failed.*code=tls.mismatch' "$LOG"
check "the refused pair sets streamguard_last_reload_success{kind=certificate} to 0" \
    test "$(outcome certificate)" = 0
kubelet_update "$TMP/certs" "$TMP/gen/$ROTATIONS/tls.crt" "$TMP/gen/$ROTATIONS/tls.key"
# the serving pair put back is no reload, but the files are good again: the alert must clear
sleep $((1 * SLOW))
check "putting the serving pair back sets it to 1 again" test "$(outcome certificate)" = 1

# ---- reload the policies: A, B, A, B, ... with every fourth a broken set
reload_ok=0
outcome_ok=0
expect_set=A
for i in $(seq 1 "$ROTATIONS"); do
    if [ $((i % 4)) -eq 0 ]; then
        kubelet_update "$TMP/policies" "$TMP/pol-bad/set.yaml" # must change nothing
    else
        [ "$expect_set" = A ] && expect_set=B || expect_set=A
        if [ "$expect_set" = A ]; then kubelet_update "$TMP/policies" "$TMP/pol-a/set.yaml"
        else kubelet_update "$TMP/policies" "$TMP/pol-b/set.yaml"; fi
    fi
    got=""
    for _ in $(seq 1 $((50 * SLOW))); do
        sleep 0.1
        got=$(served_set)
        [ "$got" = "$expect_set" ] && [ $((i % 4)) -ne 0 ] && break
        [ $((i % 4)) -eq 0 ] && { sleep 0.5; got=$(served_set); break; }
    done
    if [ "$got" = "$expect_set" ]; then reload_ok=$((reload_ok + 1)); else
        not_ok "policy reload $i: set $expect_set served" "got '$got'"; fi
    # the gauge follows each outcome: 0 while the broken set is on disk, 1 after a good one
    want_outcome=1
    [ $((i % 4)) -eq 0 ] && want_outcome=0
    got=$(outcome policies)
    if [ "$got" = "$want_outcome" ]; then outcome_ok=$((outcome_ok + 1)); else
        not_ok "policy reload $i: streamguard_last_reload_success{kind=policies} $want_outcome" "got '$got'"; fi
done
check "streamguard_last_reload_success{kind=policies} follows each of $ROTATIONS reloads" \
    test "$outcome_ok" -eq "$ROTATIONS"
check "each of $ROTATIONS policy reloads serves the expected set (broken ones keep the old)" \
    test "$reload_ok" -eq "$ROTATIONS"
check "a broken policy set is logged with its position" \
    grep -q 'policy reload failed.*at=[^ ]*set.yaml:7:[0-9]* code=expr.syntax' "$LOG"

# ---- a reload that empties the directory (a ConfigMap that lost its keys) keeps the set
# serving: an empty set would allow every review
echo "no policies here" >"$TMP/notes.txt"
kubelet_update "$TMP/policies" "$TMP/notes.txt"
rm -f "$TMP/policies/set.yaml" # kubelet removes the names of the keys that went away
sleep $((1 * SLOW))
check "a reload to an empty policy directory keeps the previous set ($expect_set) serving" \
    test "$(served_set)" = "$expect_set"
check "the empty set is logged as refused" \
    grep -q 'policy reload failed.*code=policy.empty reason="the policy directory holds no policy' "$LOG"
check "the empty set is counted" grep -q '^streamguard_empty_policy_sets_total{result="refused"} 1$' \
    <<<"$(curl -sS --cacert "$TMP/cas.pem" "https://localhost:$PORT/metrics")"
check "the refused empty set sets streamguard_last_reload_success{kind=policies} to 0" \
    test "$(outcome policies)" = 0

# ---- SIGHUP reloads too (a policy file changed in place, which inotify on the directory
# of a ConfigMap-style volume does not see)
kubelet_update "$TMP/policies" "$TMP/pol-a/set.yaml"
for _ in $(seq 1 $((50 * SLOW))); do [ "$(served_set)" = A ] && break; sleep 0.1; done
check "a good set after the empty one sets it to 1 again" test "$(outcome policies)" = 1
sed -i 's/set A/set A (edited)/' "$TMP/policies/..data/set.yaml"
kill -HUP "$PID"
sleep $((1 * SLOW))
check "SIGHUP reloads the policies" grep -q '(edited)' <<<"$("${CURL[@]}" "$URL")"
# Per-policy series follow the set served: set-a's (counted under load), none of set-b's, which
# 20 reloads served and replaced.
metrics=$(curl -sS --cacert "$TMP/cas.pem" "https://localhost:$PORT/metrics")
check "the served policy's results are published" \
    grep -Eq '^streamguard_policy_results_total\{policy="set-a",action="warn",result="fail"\} [1-9]' <<<"$metrics"
check "a policy removed by a reload has no series left" \
    bash -c '! grep -q "policy=\"set-b\"" <<<"$1"' _ "$metrics"

touch "$TMP/stop"
wait "$NEWCONN" "$KEEP"
total_new=$(wc -l <"$TMP/new-conn.out")
total_keep=$(awk '{n++} END {print n * 1}' "$TMP/keepalive.out")
bad_new=$(grep -vc '^200$' "$TMP/new-conn.out")
bad_keep=$(grep -vc '^200 [01]$' "$TMP/keepalive.out")
check "no failed request on new connections ($total_new sent)" test "$bad_new" -eq 0 -a "$total_new" -gt 0
check "no failed request on kept-alive connections ($total_keep sent)" test "$bad_keep" -eq 0 -a "$total_keep" -gt 0
[ "$bad_new" -eq 0 ] || head -5 "$TMP/new-conn.out" | grep -v '^200$'
[ "$bad_keep" -eq 0 ] || grep -v '^200 [01]$' "$TMP/keepalive.out" | head -5

metrics=$(curl -sS --cacert "$TMP/cas.pem" "https://localhost:$PORT/metrics")
cert_ok=$(grep -o 'streamguard_reloads_total{kind="certificate",result="ok"} [0-9]*' <<<"$metrics" | grep -o '[0-9]*$')
cert_err=$(grep -o 'streamguard_reloads_total{kind="certificate",result="error"} [0-9]*' <<<"$metrics" | grep -o '[0-9]*$')
pol_err=$(grep -o 'streamguard_reloads_total{kind="policies",result="error"} [0-9]*' <<<"$metrics" | grep -o '[0-9]*$')
# the start, and each rotation (putting back the serving pair after the broken one changes nothing)
check "metrics: certificate reloads counted (ok $cert_ok = $((ROTATIONS + 1)), error $cert_err >= 1)" \
    test "${cert_ok:-0}" -eq $((ROTATIONS + 1)) -a "${cert_err:-0}" -ge 1
check "metrics: failed policy reloads counted ($pol_err >= $((ROTATIONS / 4)))" test "${pol_err:-0}" -ge $((ROTATIONS / 4))
check "metrics: the certificate's notAfter is the new one's" \
    test "$(grep -o '^streamguard_tls_certificate_not_after_seconds [0-9]*' <<<"$metrics" | cut -d' ' -f2)" \
    = "$(date -d "$(openssl x509 -noout -enddate -in "$TMP/gen/$ROTATIONS/tls.crt" | cut -d= -f2)" +%s)"

kill -TERM "$PID"
wait "$PID"
check "the server exits 0" test $? -eq 0

# ---- PolicyParams: in the policy directory and in --params (a ConfigMap of its own); a change
# of either reloads the params, a PolicyParams with errors keeps the set serving
mkdir -p "$TMP/pp" "$TMP/pp-policies" "$TMP/pp-params"
cat >"$TMP/pp/limit.yaml" <<'EOF'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: limit}
spec:
  action: Warn
  params: {max: 1, unit: slots}
  match: {resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment]}]}
  validations: [{expression: "false", messageExpression: "'limit ' + string(params.max) + ' ' + params.unit"}]
EOF
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: PolicyParams\nmetadata: {name: in-dir}\nspec: {policy: limit, params: {unit: cores}}\n' >"$TMP/pp/in-dir.yaml"
for n in 2 3; do
    printf 'apiVersion: streamguard.dev/v1alpha1\nkind: PolicyParams\nmetadata: {name: overlay}\nspec: {policy: limit, params: {max: %s}}\n' "$n" >"$TMP/pp/params-$n.yaml"
done
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: PolicyParams\nmetadata: {name: overlay}\nspec: {policy: limit, params: {max: "4"}}\n' >"$TMP/pp/params-bad.yaml"
kubelet_update "$TMP/pp-policies" "$TMP/pp/limit.yaml" "$TMP/pp/in-dir.yaml"
cp "$TMP/pp/params-2.yaml" "$TMP/pp/params.yaml"
kubelet_update "$TMP/pp-params" "$TMP/pp/params.yaml"
start_server params --threads 1 --policies "$TMP/pp-policies" --params "$TMP/pp-params/params.yaml" || exit 1
served_limit() { "${CURL[@]}" "https://localhost:$PORT/validate" | grep -o 'limit [0-9]* [a-z]*' | head -1; }
check "PolicyParams: the directory's and --params are both applied at start" test "$(served_limit)" = "limit 2 cores"
cp "$TMP/pp/params-3.yaml" "$TMP/pp/params.yaml"
kubelet_update "$TMP/pp-params" "$TMP/pp/params.yaml"
for _ in $(seq 1 $((50 * SLOW))); do [ "$(served_limit)" = "limit 3 cores" ] && break; sleep 0.1; done
check "PolicyParams: a change of the --params file is reloaded" test "$(served_limit)" = "limit 3 cores"
cp "$TMP/pp/params-bad.yaml" "$TMP/pp/params.yaml"
kubelet_update "$TMP/pp-params" "$TMP/pp/params.yaml"
for _ in $(seq 1 $((50 * SLOW))); do grep -q 'code=policy.params' "$LOG" && break; sleep 0.1; done
check "PolicyParams: a wrong type is refused with its position, the set keeps serving" \
    bash -c 'grep -q "policy reload failed.*at=[^ ]*params.yaml:4:[0-9]* code=policy.params reason=\"param .max. of policy .limit. is a number, not a string\"" "$1" &&
             test "$2" = "limit 3 cores"' _ "$LOG" "$(served_limit)"
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: PolicyParams\nmetadata: {name: in-dir}\nspec: {policy: limit, params: {unit: gpus}}\n' >"$TMP/pp/in-dir.yaml"
cp "$TMP/pp/params-2.yaml" "$TMP/pp/params.yaml"
kubelet_update "$TMP/pp-params" "$TMP/pp/params.yaml"
kubelet_update "$TMP/pp-policies" "$TMP/pp/limit.yaml" "$TMP/pp/in-dir.yaml"
for _ in $(seq 1 $((50 * SLOW))); do [ "$(served_limit)" = "limit 2 gpus" ] && break; sleep 0.1; done
check "PolicyParams: a change in the policy directory is reloaded" test "$(served_limit)" = "limit 2 gpus"
kill -TERM "$PID"
wait "$PID"
check "the server with --params exits 0" test $? -eq 0

finish reload

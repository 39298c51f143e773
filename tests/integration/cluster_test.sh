#!/usr/bin/env bash
# cluster_test.sh BIN - how 'serve' behaves when it cannot see a cluster, with no API server
# at all (the real kube-apiserver tests are tests/e2e/, `make e2e`): no configuration (every
# lookup is "could not be asked", so failurePolicy Fail denies), --no-cluster (lookup() finds
# nothing: the policy's "not found" warning), a kubeconfig whose server does not answer
# (readiness waits for --cache-sync-timeout, lookups give up within --lookup-timeout, nothing
# hangs; with --leader-elect, which must not hold SIGTERM either), and kubeconfigs and
# --leader-elect options that must be refused at start.
# Set WRAP to run the server under a tool. Prints "N passed, N failed" last.
set -u

. "$(dirname "$0")/lib.sh"

cleanup() {
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
# Not in a pod and no kubeconfig, whatever the machine running the tests has.
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

"$BIN" certs generate --out "$TMP/certs" --host localhost --host 127.0.0.1 >/dev/null
mkdir -p "$TMP/policies"
cp "$ROOT/policies/flink-ha-storage-rwx.yaml" "$TMP/policies/"
CURL=(curl -sS --max-time $((20 * SLOW)) --cacert "$TMP/certs/ca.crt")
url() { echo "https://localhost:$PORT$1"; }

# The FlinkDeployment of examples/flink/ha-rwx-good.yaml (HA storage on the claim
# statemachine-ha) as kube-apiserver would send it for a CREATE.
python3 - "$ROOT/examples/flink/ha-rwx-good.yaml" >"$TMP/review.json" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "FlinkDeployment"]
obj = docs[0]
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "0c4b1a52-0000-4000-8000-000000000001",
    "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkDeployment"},
    "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinkdeployments"},
    "requestKind": {"group": "flink.apache.org", "version": "v1beta1", "kind": "FlinkDeployment"},
    "requestResource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinkdeployments"},
    "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
    "operation": "CREATE", "userInfo": {"username": "alice"}, "object": obj,
    "oldObject": None, "dryRun": False}}))
PY
review() { "${CURL[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/review.json" \
    "$(url /validate)"; }
allowed() { python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["allowed"])'; }

# ---------------------------------------------------------------- no cluster configured
# Not in a pod (no KUBERNETES_SERVICE_HOST) and no kubeconfig: the claim cannot be looked up,
# and the policy must not take that for "not found".
start_server none || exit 1
r=$(review)
check "no cluster: the review is denied (failurePolicy Fail)" test "$(allowed <<<"$r")" = False
check "no cluster: the denial says the cluster could not be asked" \
    grep -q 'could not be asked: no cluster configured' <<<"$r"
check "no cluster: the start is logged" grep -q 'lookup() is an evaluation error' "$LOG"
kill "$PID"; wait "$PID" 2>/dev/null

# ---------------------------------------------------------------- --no-cluster
start_server nocluster --no-cluster || exit 1
r=$(review)
check "--no-cluster: admitted" test "$(allowed <<<"$r")" = True
check "--no-cluster: with the claim's not-found warning" grep -q 'not found' <<<"$r"
kill "$PID"; wait "$PID" 2>/dev/null

# ---------------------------------------------------------------- a server that does not answer
# A loopback port nobody listens on: every request fails at once (connection refused).
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
kubeconfig() { # kubeconfig FILE SERVER [extra cluster line]
    cat >"$1" <<KC
apiVersion: v1
kind: Config
current-context: dead
clusters:
- name: dead
  cluster:
    server: $2
    certificate-authority: $TMP/certs/ca.crt
${3:-}
users:
- name: sg
  user:
    token: not-a-real-token
contexts:
- name: dead
  context: {cluster: dead, user: sg}
KC
}
kubeconfig "$TMP/dead.kubeconfig" "https://127.0.0.1:$DEAD"
start_server dead --kubeconfig "$TMP/dead.kubeconfig" --cache-sync-timeout 3 --lookup-timeout 500 \
    --leader-elect || exit 1
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$(url /readyz)")
check "unreachable API server: /readyz is 503 before the sync timeout" test "$code" = 503
t0=$(date +%s%N)
r=$(review)
t1=$(date +%s%N)
denied_unasked() { grep -q 'could not be asked' <<<"$1" && test "$(allowed <<<"$1")" = False; }
check "unreachable API server: the review is denied (could not be asked)" denied_unasked "$r"
check "unreachable API server: answered within 5 s (every call has a timeout)" \
    test $(((t1 - t0) / 1000000)) -lt $((5000 * SLOW))
ready=""
for _ in $(seq 1 $((80 * SLOW))); do
    code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$(url /readyz)")
    [ "$code" = 200 ] && { ready=1; break; }
    sleep 0.1
done
check "unreachable API server: ready once --cache-sync-timeout passed" test -n "$ready"
check "the sync timeout is logged" grep -q 'cache sync timeout' "$LOG"
m=$("${CURL[@]}" "$(url /metrics)")
check "metrics count the unavailable lookup" \
    grep -Eq '^streamguard_kube_lookups_total\{.*outcome="unavailable".*\} [1-9]' <<<"$m"
check "metrics count the failed watch starts" \
    grep -Eq '^streamguard_kube_watch_restarts_total\{.*reason="failed".*\} [1-9]' <<<"$m"
check "unreachable API server, --leader-elect: not the leader (streamguard_leader 0)" \
    grep -Eq '^streamguard_leader 0$' <<<"$m"
check "unreachable API server, --leader-elect: the Lease in the kubeconfig context's namespace" \
    grep -q 'leader election started.*lease=default/streamguard' "$LOG"
check "unreachable API server, --leader-elect: the failed read of the Lease is logged" \
    grep -q 'cannot read the lease' "$LOG"
kill "$PID"
for _ in $(seq 1 $((50 * SLOW))); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
check "unreachable API server: SIGTERM still stops the server within 5 s" \
    bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID" 2>/dev/null

# The background audit against an API server that does not answer: each round fails at
# discovery, writes nothing, is counted and tried again; SIGTERM still stops the server (the
# audit thread's calls end on its stop flag).
start_server dead-audit --kubeconfig "$TMP/dead.kubeconfig" --cache-sync-timeout 1 --audit || exit 1
failed_rounds=""
for _ in $(seq 1 $((50 * SLOW))); do
    m=$("${CURL[@]}" "$(url /metrics)")
    grep -Eq '^streamguard_audit_rounds_total\{outcome="failed"\} [1-9]' <<<"$m" && { failed_rounds=1; break; }
    sleep 0.1
done
check "unreachable API server, --audit: the round fails at discovery and is counted" test -n "$failed_rounds"
nothing_written() {
    grep -Eq '^streamguard_audit_report_writes_total\{outcome="created"\} 0$' <<<"$m" &&
        ! grep -q '^streamguard_audit_results{' <<<"$m"
}
check "unreachable API server, --audit: nothing written, no results (no streamguard_audit_results series)" \
    nothing_written
check "unreachable API server, --audit: the failed discovery is logged" \
    grep -q 'a kind to audit could not be discovered' "$LOG"
kill "$PID"
for _ in $(seq 1 $((50 * SLOW))); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
check "unreachable API server, --audit: SIGTERM still stops the server within 5 s" \
    bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID" 2>/dev/null

# ---------------------------------------------------------------- kubeconfigs refused at start
refused() { # refused NAME PATTERN [serve options]
    local name=$1 pattern=$2 log="$TMP/refused.log"
    shift 2
    $WRAP "$BIN" serve --listen 127.0.0.1:0 --tls-cert "$TMP/certs/tls.crt" \
        --tls-key "$TMP/certs/tls.key" --policies "$TMP/policies" "$@" 2>"$log"
    local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pattern" "$log"; then ok "refused at start: $name"; else
        not_ok "refused at start: $name" "exit $rc" "$(cat "$log")"; fi
}
refused "a kubeconfig that does not exist" "nope.kubeconfig" --kubeconfig "$TMP/nope.kubeconfig"
kubeconfig "$TMP/insecure.kubeconfig" "https://127.0.0.1:$DEAD" "    insecure-skip-tls-verify: true"
refused "insecure-skip-tls-verify" "insecure-skip-tls-verify" --kubeconfig "$TMP/insecure.kubeconfig"
kubeconfig "$TMP/http.kubeconfig" "http://127.0.0.1:$DEAD"
refused "an http:// server" "http" --kubeconfig "$TMP/http.kubeconfig"
refused "--no-cluster with --kubeconfig" "exclude each other" --no-cluster \
    --kubeconfig "$TMP/dead.kubeconfig"
refused "--leader-elect with --no-cluster" "needs a cluster" --leader-elect --no-cluster
refused "--leader-elect without a cluster" "needs a cluster" --leader-elect
refused "--audit with --no-cluster" "--audit needs a cluster" --audit --no-cluster
refused "--audit without a cluster" "--audit needs a cluster" --audit
refused "--audit-interval below 10 s" "audit-interval" --kubeconfig "$TMP/dead.kubeconfig" \
    --audit --audit-interval 5
refused "--leader-elect-name without --leader-elect" "need --leader-elect" \
    --kubeconfig "$TMP/dead.kubeconfig" --leader-elect-name x
refused "--leader-elect-namespace that is not a namespace" "namespace of the Lease" \
    --kubeconfig "$TMP/dead.kubeconfig" --leader-elect --leader-elect-namespace 'kube-system/x'
refused "--leader-elect-name that is not a name" "name of the Lease" \
    --kubeconfig "$TMP/dead.kubeconfig" --leader-elect --leader-elect-name '../secrets'

# --manage-webhook-certs: the certificate comes from a Secret, so no files; refused without a
# cluster, with certificate files, with a bad namespace or host; its options need it.
refused "--manage-webhook-certs with --tls-cert/--tls-key" "exclude each other" \
    --kubeconfig "$TMP/dead.kubeconfig" --manage-webhook-certs
refused "--webhook-secret without --manage-webhook-certs" "need --manage-webhook-certs" \
    --kubeconfig "$TMP/dead.kubeconfig" --webhook-secret x
managed_refused() { # managed_refused NAME PATTERN [serve options]: no certificate files
    local name=$1 pattern=$2 log="$TMP/refused.log"
    shift 2
    $WRAP "$BIN" serve --listen 127.0.0.1:0 --policies "$TMP/policies" --manage-webhook-certs \
        "$@" 2>"$log"
    local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pattern" "$log"; then ok "refused at start: $name"; else
        not_ok "refused at start: $name" "exit $rc" "$(cat "$log")"; fi
}
managed_refused "--manage-webhook-certs with --no-cluster" "needs a cluster" --no-cluster
managed_refused "--manage-webhook-certs without a cluster" "needs a cluster"
managed_refused "--manage-webhook-certs: a namespace that is not one" "namespace" \
    --kubeconfig "$TMP/dead.kubeconfig" --webhook-namespace 'kube-system/x'
managed_refused "--manage-webhook-certs: a host that is neither a name nor an address" \
    "neither a DNS name" --kubeconfig "$TMP/dead.kubeconfig" --webhook-namespace ns \
    --webhook-hosts 'ok.example,bad host'
managed_refused "--manage-webhook-certs: a Secret name that is not one" "Secret's name" \
    --kubeconfig "$TMP/dead.kubeconfig" --webhook-namespace ns --webhook-secret '../x'

finish cluster_test

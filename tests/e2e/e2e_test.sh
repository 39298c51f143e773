#!/bin/bash
# e2e_test.sh BIN - streamguard as the admission webhook of a real kube-apiserver (1.20, built
# by scripts/kube-apiserver.sh), driven with kubectl 1.20. Run by 'make e2e'.
#
# The cluster: one etcd, kube-apiserver A (streamguard's watches and lookups go to it, with the
# rights of deploy/'s ClusterRole) and kube-apiserver B (kubectl's), both on that etcd. With A
# stopped, kubectl still changes objects through B and B still calls the webhook: so the tests
# can stage "the API server is down" and "etcd was compacted while streamguard's watch was
# away" (A back: its re-watch from the old resourceVersion gets 410 Gone and must re-list).
#
# The CRDs come from shared/reference/crds/ ($STREAMGUARD_SHARED, else ../shared beside the
# clone). Everything listens on 127.0.0.1 and is stopped on exit. Every wait is bounded.
# Prints "N passed, N failed" last; the status is non-zero when a case failed.
set -u
. "$(dirname "$0")/../integration/lib.sh"

KS=$ROOT/scripts/kube-apiserver.sh
SHARED=${STREAMGUARD_SHARED:-$ROOT/../shared}
CL=$TMP/cluster
PID=
LE_PIDS=() # the leader-election replicas
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    for p in "${LE_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "${MPID:-}" ] && kill "$MPID" 2>/dev/null
    "$KS" stop "$CL" 2>/dev/null
    if [ "$FAIL" -gt 0 ] && [ -d "$CL" ]; then
        # What a reader needs to see why: the last lines of each log.
        for f in "$TMP"/streamguard.log "$CL"/apiserver-a.log; do
            [ -f "$f" ] && { echo "--- last lines of $f"; tail -15 "$f"; }
        done
        # The watches' story (starts, failures, re-lists, restarts by reason).
        [ -f "$TMP/streamguard.log" ] && { echo "--- the watches in $TMP/streamguard.log"
            grep 'component=kube' "$TMP/streamguard.log" | tail -60; }
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -d "$SHARED/reference/crds" ]; then
    not_ok "the CRDs are in $SHARED/reference/crds (set STREAMGUARD_SHARED to shared/)"
    finish e2e
    exit 1
fi

# --- the cluster ------------------------------------------------------------------------------

if ! "$KS" start "$CL"; then
    not_ok "the cluster starts (scripts/kube-apiserver.sh start)"
    finish e2e
    exit 1
fi
. "$CL/env"
ok "etcd and two kube-apiservers on 127.0.0.1 ($APISERVER_A, $APISERVER_B)"

# k ARGS: kubectl 1.20 as cluster-admin through B; ka: through A.
k() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=30s "$@"; }
ka() { "$KUBECTL" --kubeconfig "$ADMIN_A_KUBECONFIG" --request-timeout=10s "$@"; }

CRDS=$SHARED/reference/crds
crds=("$CRDS"/flink/main/flinkdeployments.flink.apache.org-v1.yml
    "$CRDS"/flink/main/flinksessionjobs.flink.apache.org-v1.yml
    "$CRDS"/k8ssandra/k8ssandra.io_k8ssandraclusters.yaml
    "$CRDS"/k8ssandra/stargate.k8ssandra.io_stargates.yaml
    "$CRDS"/cass-operator/cassandra.datastax.com_cassandradatacenters.yaml)
# As their projects install them (tests/e2e/crds.py); created, not applied: the K8ssandra CRDs
# exceed the 256 KiB annotation that apply would write.
# established: each CRD's Established condition True, within 30 s (not 'kubectl wait': 1.20's
# fails on a CRD whose status has no conditions yet).
established() {
    local _ n
    for _ in $(seq 1 60); do
        n=$(k get crd -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' |
            grep -c True)
        [ "$n" -ge "${#crds[@]}" ] && return 0
        sleep 0.5
    done
    echo "only $n CRDs established"
    return 1
}
if "$ROOT/tests/e2e/crds.py" "${crds[@]}" >"$TMP/crds.json" &&
    k create -f "$TMP/crds.json" >"$TMP/crds.out" 2>&1 && established >>"$TMP/crds.out" 2>&1; then
    ok "the Flink and K8ssandra CRDs are installed and established"
else
    not_ok "the Flink and K8ssandra CRDs are installed and established" \
        "$(tail -5 "$TMP/crds.out" | cut -c1-300)"
    finish e2e
    exit 1
fi

# The test policy lookupList() over Nodes reads Nodes: deploy/'s ClusterRole need not grant
# them, so the test grants them for its own policy (to both streamguard users).
if ! k create clusterrole streamguard-e2e-nodes --verb get,list,watch --resource nodes >/dev/null ||
    ! k create clusterrolebinding streamguard-e2e-nodes --clusterrole streamguard-e2e-nodes \
        --user streamguard --user streamguard-rotated >/dev/null; then
    not_ok "the e2e policy's Nodes are granted to streamguard"
fi

# --- streamguard --------------------------------------------------------------------------------

mkdir -p "$TMP/policies"
cp "$ROOT"/policies/*.yaml "$TMP/policies/"
if "$BIN" lint "$ROOT/tests/e2e/policies" >"$TMP/lint.out" 2>&1; then
    cp "$ROOT"/tests/e2e/policies/*.yaml "$TMP/policies/"
    NODE_POLICY=1
    ok "the test policy using lookupList('v1', 'Node', '') loads"
else
    NODE_POLICY=0
    not_ok "the test policy using lookupList('v1', 'Node', '') loads" "$(head -3 "$TMP/lint.out")"
fi
CABUNDLE=$("$BIN" certs generate --out "$TMP/certs" --host 127.0.0.1 --host localhost 2>/dev/null)

serve_opts=()
# The whole help is read (grep -q would stop at the match and serve die of SIGPIPE under
# pipefail: the help is over 4 KiB).
if "$BIN" serve --help 2>&1 | grep -- '--kubeconfig' >/dev/null; then
    serve_opts=(--kubeconfig "$STREAMGUARD_KUBECONFIG" --cache-sync-timeout 30 --lookup-timeout 1000)
    ok "streamguard serve takes --kubeconfig"
else
    not_ok "streamguard serve takes --kubeconfig (it does not yet: started without a cluster)"
fi
if ! start_server streamguard "${serve_opts[@]}" --log-level debug; then
    not_ok "streamguard serve starts"
    finish e2e
    exit 1
fi
SG=https://127.0.0.1:$PORT
sg_get() { curl -sS --max-time 5 --cacert "$TMP/certs/ca.crt" -o /dev/null -w '%{http_code}' "$SG$1"; }
metrics() { curl -sS --max-time 5 --cacert "$TMP/certs/ca.crt" "$SG/metrics"; }
# metric NAME REGEX: the sum of the samples of NAME whose labels match REGEX (0 when none).
metric() {
    metrics | awk -v n="$1" -v r="$2" '$1 ~ "^" n "({|$)" && $1 ~ r {s += $NF} END {print s + 0}'
}
ready=
for _ in $(seq 1 70); do
    [ "$(sg_get /readyz)" = 200 ] && { ready=1; break; }
    sleep 0.5
done
check "streamguard's /readyz is 200 once its caches have listed (within 35 s)" [ -n "$ready" ]

# The webhooks: deploy/'s configurations, pointed at this server by url with its CA.
python3 - "$ROOT/deploy/base/webhooks.yaml" "$SG" "$CABUNDLE" >"$TMP/webhooks.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    for w in d["webhooks"]:
        path = w["clientConfig"]["service"]["path"]
        w["clientConfig"] = {"url": sys.argv[2] + path, "caBundle": sys.argv[3]}
        w["timeoutSeconds"] = 10
print(yaml.safe_dump_all(docs))
EOF
check "the Validating and Mutating WebhookConfigurations are registered (url + caBundle)" \
    k apply -f "$TMP/webhooks.yaml" -o name

# --- helpers for the cases ------------------------------------------------------------------

# claim NAME MODE: a PersistentVolumeClaim in default with that access mode.
claim() {
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1, namespace: default}
spec:
  accessModes: [$2]
  resources: {requests: {storage: 1Gi}}
EOF
}

# fd NAME CLAIM: examples/flink/ha-rwx-good.yaml's FlinkDeployment (it passes every shipped
# policy) with its HA, checkpoint and savepoint directories on claim CLAIM.
fd() {
    cat <<EOF
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: $1, namespace: default}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    high-availability.type: kubernetes
    high-availability.storageDir: file:///opt/flink/volume/flink-ha
    state.checkpoints.dir: file:///opt/flink/volume/flink-cp
    state.savepoints.dir: file:///opt/flink/volume/flink-sp
    restart-strategy.type: fixed-delay
    restart-strategy.fixed-delay.delay: 10 s
    restart-strategy.fixed-delay.attempts: "1440"
    metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
    metrics.reporter.prom.port: "9249"
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          volumeMounts: [{name: flink-volume, mountPath: /opt/flink/volume}]
      volumes:
        - name: flink-volume
          persistentVolumeClaim: {claimName: $2}
  jobManager:
    replicas: 2
    resource: {memory: 2048m, cpu: 1}
  taskManager:
    resource: {memory: 4Gi, cpu: 2}
  job:
    jarURI: local:///opt/flink/examples/streaming/StateMachineExample.jar
    parallelism: 4
    upgradeMode: last-state
EOF
}

# apply FILE [kubectl options]: kubectl apply through B; OUT holds what it printed (stdout and
# stderr), RC its status, SECS how long it took.
apply() {
    local f=$1 t0
    shift
    t0=$(date +%s%N)
    OUT=$(k apply -f "$f" "$@" 2>&1)
    RC=$?
    SECS=$((($(date +%s%N) - t0) / 1000000000))
}
# kubectl 1.20 prints a 403 denial as 'admission webhook "..." denied the request: ...' and a
# 422 one (every denial asked for reason Invalid) as 'The FlinkDeployment "x" is invalid: ...'.
denied() { [ "$RC" -ne 0 ] && grep -qE 'denied the request|" is invalid: ' <<<"$OUT"; }
admitted() { [ "$RC" -eq 0 ]; }
warned() { grep -q '^Warning:' <<<"$OUT"; }
says() { grep -qF -- "$1" <<<"$OUT"; }
# not_found CLAIM: the warning of flink-ha-storage-rwx for a claim that was not found (the
# wording "CLAIM, which was not found" or "CLAIM: not found in namespace NS").
not_found() { grep -qE -- "PersistentVolumeClaim $1(,|:) [^;]*not found" <<<"$OUT"; }
# expect NAME TEST...: passes when every TEST (shell code reading OUT, RC, SECS) holds.
expect() {
    local name=$1 t
    shift
    # shellcheck disable=SC2016 # the tests are code, expanded when they run
    for t in "$@"; do
        if ! eval "$t"; then
            not_ok "$name" "failed: $t" "kubectl said: $(head -c 600 <<<"$OUT")"
            return 1
        fi
    done
    ok "$name"
}
# until_denied SECONDS FILE: applies FILE with --dry-run=server until it is denied, at most
# SECONDS (the cache is eventually consistent: a watch event takes a moment).
until_denied() {
    local end=$(($(date +%s) + $1))
    while :; do
        apply "$2" --dry-run=server
        denied && return 0
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.5
    done
}

# --- the cases ------------------------------------------------------------------------------

# A policy without lookups: the webhook is called and its denial reaches kubectl (after the
# API servers have seen the new webhook configurations: within 10 s).
cp "$ROOT/examples/flink/ha-no-storagedir-bad.yaml" "$TMP/bad.yaml"
until_denied 10 "$TMP/bad.yaml"
expect "an invalid FlinkDeployment is denied (apply --dry-run=server)" denied \
    "says flink-ha-storagedir-required"
apply "$TMP/bad.yaml"
expect "an invalid FlinkDeployment is denied (apply)" denied "says flink-ha-storagedir-required"

# deploy/'s own namespace is left out of the webhooks (namespaceSelector on
# kubernetes.io/metadata.name, which 1.20 does not set: deploy/base/namespace.yaml sets it), so
# the invalid FlinkDeployment is admitted there.
if k apply -f "$ROOT/deploy/base/namespace.yaml" >/dev/null; then
    apply "$TMP/bad.yaml" --dry-run=server -n streamguard-system
    expect "deploy/'s namespace streamguard-system is left out of the webhooks (admitted)" admitted \
        '! says flink-ha-storagedir-required'
else
    not_ok "deploy/base/namespace.yaml applies"
fi

# The HA storageDir on a ReadWriteOnce claim that exists in the cluster.
claim single ReadWriteOnce
fd on-rwo single >"$TMP/on-rwo.yaml"
apply "$TMP/on-rwo.yaml" --dry-run=server
expect "HA storageDir on an existing ReadWriteOnce claim: denied (apply --dry-run=server)" denied \
    "says flink-ha-storage-rwx" "says 'with accessModes [ReadWriteOnce]'"
apply "$TMP/on-rwo.yaml"
expect "HA storageDir on an existing ReadWriteOnce claim: denied (apply)" denied \
    "says 'with accessModes [ReadWriteOnce]'"

# streamguard check --kubeconfig: the dry run asks the same cluster (read-only) for what the
# documents given do not hold, and a document given wins over the cluster's object.
"$BIN" check -p "$TMP/policies" --kubeconfig "$STREAMGUARD_KUBECONFIG" "$TMP/on-rwo.yaml" \
    >"$TMP/check-live.out" 2>&1
RC=$?
OUT=$(cat "$TMP/check-live.out")
expect "check --kubeconfig: the claim in the cluster is ReadWriteOnce: denied (exit 1)" \
    '[ "$RC" = 1 ]' "says 'with accessModes [ReadWriteOnce]'"
{ cat "$TMP/on-rwo.yaml"; printf -- '---\n'; cat <<EOF; } >"$TMP/on-rwo-with-claim.yaml"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: single, namespace: default}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
EOF
"$BIN" check -p "$TMP/policies" --kubeconfig "$STREAMGUARD_KUBECONFIG" \
    "$TMP/on-rwo-with-claim.yaml" >"$TMP/check-live.out" 2>&1
RC=$?
OUT=$(cat "$TMP/check-live.out")
expect "check --kubeconfig: the claim given as a document wins over the cluster's (exit 0)" \
    '[ "$RC" = 0 ]' "! says ReadWriteOnce"
sed -E 's|^( *)server: .*|\1server: https://127.0.0.1:1|' "$STREAMGUARD_KUBECONFIG" \
    >"$TMP/dead.kubeconfig"
"$BIN" check -p "$TMP/policies" --kubeconfig "$TMP/dead.kubeconfig" "$TMP/on-rwo.yaml" \
    >"$TMP/check-live.out" 2>&1
RC=$?
OUT=$(cat "$TMP/check-live.out")
expect "check --kubeconfig: a cluster that cannot be asked is an evaluation error (denied)" \
    '[ "$RC" = 1 ]' "says 'could not be asked'"

# On a ReadWriteMany claim: admitted, and no policy has anything to say.
claim shared ReadWriteMany
fd on-rwx shared >"$TMP/on-rwx.yaml"
apply "$TMP/on-rwx.yaml" --dry-run=server
expect "HA storageDir on a ReadWriteMany claim: admitted without a warning (--dry-run=server)" \
    admitted '! warned'
apply "$TMP/on-rwx.yaml"
expect "HA storageDir on a ReadWriteMany claim: admitted without a warning (apply)" admitted '! warned'

# On a claim that does not exist: admitted, with the "not found" warning.
fd on-absent absent >"$TMP/on-absent.yaml"
apply "$TMP/on-absent.yaml"
expect "HA storageDir on a claim that does not exist: admitted with the not-found warning" \
    admitted warned "not_found absent"

# The RWX claim deleted and created again ReadWriteOnce: the watch sees both events.
k delete pvc shared --wait=true --timeout=20s >/dev/null 2>&1
claim shared ReadWriteOnce
fd on-rwx-again shared >"$TMP/on-rwx-again.yaml"
until_denied 5 "$TMP/on-rwx-again.yaml"
expect "claim deleted and re-created ReadWriteOnce: the next apply is denied (within 5 s)" denied \
    "says 'with accessModes [ReadWriteOnce]'"

# The Flink operator's ConfigMap (flinkConfig()'s defaults): every policy names it by its
# params, so streamguard watches that one ConfigMap alone (LIST and WATCH in default with
# fieldSelector=metadata.name=flink-operator-config) and deploy/'s ClusterRole grants it by name
# only (resourceNames): no other ConfigMap is cached or readable.
opcm() { # opcm FLINK-CONF-LINE: the operator's ConfigMap in default, created or replaced
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: flink-operator-config, namespace: default}
data:
  flink-conf.yaml: |
    $1
EOF
}
cm_rbac() {
    local sa=(--as streamguard -n default)
    [ "$(k auth can-i get configmaps/flink-operator-config "${sa[@]}")" = yes ] &&
        [ "$(k auth can-i list configmaps/flink-operator-config "${sa[@]}")" = yes ] &&
        [ "$(k auth can-i watch configmaps/flink-operator-config "${sa[@]}")" = yes ] &&
        [ "$(k auth can-i list configmaps "${sa[@]}")" = no ] &&
        [ "$(k auth can-i watch configmaps -A --as streamguard)" = no ] &&
        [ "$(k auth can-i get configmaps/other-config "${sa[@]}")" = no ]
}
check "RBAC: streamguard may get, list and watch the ConfigMap flink-operator-config only (not list every ConfigMap, not get another)" \
    cm_rbac
check "the ConfigMap kind is watched as one object (logged: scope=default/flink-operator-config)" \
    grep -q 'listed.*kind=v1/ConfigMap.*scope=default/flink-operator-config' "$TMP/streamguard.log"
k create configmap other-config -n default --from-literal=a=b >/dev/null
opcm 'high-availability.storageDir: s3://flink-state/ha'
# the storageDir now comes from the operator's defaults: the FlinkDeployment without one passes
t0=$(date +%s)
for _ in $(seq 1 10); do
    apply "$TMP/bad.yaml" --dry-run=server
    admitted && break
    sleep 0.5
done
expect "the operator's ConfigMap sets the HA storageDir: the FlinkDeployment without one is admitted (the watch saw it in $(($(date +%s) - t0)) s)" \
    admitted '! says flink-ha-storagedir-required'
objs=$(metric streamguard_kube_objects 'kind="v1/ConfigMap"')
check "only that ConfigMap is cached (streamguard_kube_objects{kind=\"v1/ConfigMap\"} $objs, with other-config in the cluster)" \
    [ "$objs" = 1 ]
check "the ConfigMap's lookups hit the watch cache" \
    [ "$(metric streamguard_kube_lookups_total 'kind="v1/ConfigMap".*outcome="hit"')" -gt 0 ]
opcm 'taskmanager.numberOfTaskSlots: 2'
until_denied 5 "$TMP/bad.yaml"
expect "the ConfigMap updated without the storageDir: denied again (the watch saw the update within 5 s)" \
    denied "says flink-ha-storagedir-required"
check "the ConfigMap's watch was never refused (no 'watch failed' for v1/ConfigMap)" \
    bash -c "! grep -q 'watch failed.*kind=v1/ConfigMap' '$TMP/streamguard.log'"
k delete configmap flink-operator-config other-config -n default >/dev/null 2>&1

# lookupList over Nodes: none yet (warned), one too small (denied), a larger one (admitted).
node() {
    k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: $1}
status:
  capacity: {cpu: "4", memory: $2, pods: "110"}
  allocatable: {cpu: "4", memory: $2, pods: "110"}
  conditions: [{type: Ready, status: "True"}]
EOF
    # kube-apiserver's TaintNodesByCondition admission taints a new Node not-ready:NoSchedule;
    # the node lifecycle controller (not run here) lifts it once the Node is Ready.
    k taint nodes "$1" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
}
if [ "$NODE_POLICY" = 1 ]; then
    cat >"$TMP/nodes.yaml" <<EOF
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: node-sized
  namespace: default
  labels: {e2e.streamguard.dev/node-check: "true"}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  jobManager: {resource: {memory: 2048m, cpu: 1}}
  taskManager: {resource: {memory: 4Gi, cpu: 1}}
EOF
    apply "$TMP/nodes.yaml" --dry-run=server
    expect "lookupList over Nodes: no Node yet, warned" admitted \
        "says 'the cluster has no Node'"
    node e2e-node-small 2Gi
    until_denied 5 "$TMP/nodes.yaml"
    expect "lookupList over Nodes: a Node created through the API is seen (4Gi > its 2Gi: denied)" \
        denied "says 'the largest of 1 Nodes has 2Gi'"
    node e2e-node-large 8Gi
    sleep 2 # the watch event of the new Node
    apply "$TMP/nodes.yaml" --dry-run=server
    expect "lookupList over Nodes: a second, larger Node is seen (admitted, no warning)" admitted \
        '! warned'
else
    not_ok "lookupList over Nodes (the test policy did not load)"
fi

# A policy reload drops every policy that looks Nodes up (the e2e one and the shipped ones that
# fit pods to Nodes): the Node watch stops. Put back: it starts again, lists, and lookupList
# answers from it.
if [ "$NODE_POLICY" = 1 ]; then
    mkdir -p "$TMP/node-policies"
    for f in $(grep -l "'v1', *'Node'" "$TMP"/policies/*.yaml); do mv "$f" "$TMP/node-policies/"; done
    stopped=
    for _ in $(seq 1 40); do
        grep -q 'msg="watch stopped" kind=v1/Node' "$LOG" && { stopped=1; break; }
        sleep 0.25
    done
    check "policy reload without the Node policy: the Node watch stops" [ -n "$stopped" ]
    mv "$TMP"/node-policies/*.yaml "$TMP/policies/"
    started=
    for _ in $(seq 1 40); do
        [ "$(grep -c 'msg=listed kind=v1/Node' "$LOG")" -ge 2 ] && { started=1; break; }
        sleep 0.25
    done
    check "policy reload with the Node policy back: the Node watch lists again" [ -n "$started" ]
    apply "$TMP/nodes.yaml" --dry-run=server
    expect "policy reload: lookupList over Nodes answers from the new watch (admitted, no warning)" \
        admitted '! warned'
fi

# --- the API client's writes ----------------------------------------------------------------
# Every kube_write method against kube-apiserver (tests/e2e/kube_write.c, as admin through A):
# each PATCH's Content-Type accepted, conditional writes refused with 409.
KW=$(dirname "$BIN")/e2e_kube_write
if [ -x "$KW" ] && "$KW" "$ADMIN_A_KUBECONFIG" >"$TMP/kw.out" 2>"$TMP/kw.err"; then
    want='post 201
post-again 409
put-stale 409
put 200
patch-merge 200
patch-json 200
patch-strategic 200
patch-apply 200
data "data":{"a":"2","b":"3","c":"4","d":"5","e":"6"}
delete-stale 409
delete 200
delete-again 404'
    if [ "$(cat "$TMP/kw.out")" = "$want" ]; then
        ok "kube_write: POST, PUT, the four PATCH types and DELETE as kube-apiserver expects them"
    else
        not_ok "kube_write: POST, PUT, the four PATCH types and DELETE as kube-apiserver expects them" \
            "$(diff <(echo "$want") "$TMP/kw.out")" "$(head -5 "$TMP/kw.err")"
    fi
else
    not_ok "kube_write: the e2e client ($KW) runs" "$(head -5 "$TMP/kw.err" 2>/dev/null)"
fi

# --- the background audit ---------------------------------------------------------------------
# Objects that were in the cluster before streamguard started (created while the webhooks are
# removed: they predate them) appear in the PolicyReport of their namespace with the right
# results; fixing one updates its result; deleting one removes its results, and the last one
# the report; `streamguard audit` prints the same findings as the report. The reports' CRDs and
# the audit's ClusterRole are deploy/'s (deploy/base/policyreports.yaml, rbac.yaml), the latter
# bound to the user streamguard here.

# report NS: sets REP to "NAME POLICY RULE RESULT" a line for each result of NS's PolicyReport
# streamguard, sorted ("" when there is no report), and REPORT_JSON to the report.
report() {
    REPORT_JSON=$(k -n "$1" get policyreport streamguard -o json 2>/dev/null)
    REP=
    [ -n "$REPORT_JSON" ] || return 0
    REP=$(python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for x in r.get("results", []):
    print(x["resources"][0]["name"], x["policy"], x["rule"], x["result"])' <<<"$REPORT_JSON" | sort)
}
# until_report SECONDS NS TEST: waits until TEST (shell code reading REP, the report's lines)
# holds; the status says whether it did.
until_report() {
    local end=$(($(date +%s) + $1))
    while :; do
        report "$2"
        eval "$3" && return 0
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.5
    done
}
audit_crds_up() {
    for _ in $(seq 1 60); do
        [ "$(k get crd policyreports.wgpolicyk8s.io clusterpolicyreports.wgpolicyk8s.io -o \
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{end}' \
            2>/dev/null)" = TrueTrue ] && return 0
        sleep 0.5
    done
    return 1
}
check "deploy/'s PolicyReport and ClusterPolicyReport CRDs install and are established" \
    eval 'k apply -f "$ROOT/deploy/base/policyreports.yaml" >/dev/null && audit_crds_up'
k create clusterrolebinding streamguard-audit-user --clusterrole streamguard-audit \
    --user streamguard >/dev/null
can() { [ "$(k auth can-i "$@" --as streamguard 2>/dev/null)" = yes ]; }
FD=flinkdeployments.flink.apache.org PR=policyreports.wgpolicyk8s.io
rbac_ok=1
for v in list watch; do can "$v" "$FD" -A || rbac_ok=0; done
can create "$PR" -n audited || rbac_ok=0
for v in get update delete; do can "$v" "$PR/streamguard" -n audited || rbac_ok=0; done
can update "$PR/kyverno-report" -n audited && rbac_ok=0 # another engine's report
can delete "$PR/kyverno-report" -n audited && rbac_ok=0
can patch "$PR" -n audited && rbac_ok=0
can update "$FD" -n audited && rbac_ok=0
can delete "$FD" -n audited && rbac_ok=0
check "RBAC: the audit may list/watch FlinkDeployments and write its PolicyReports (named streamguard), not patch them, not another's, nor change FlinkDeployments" \
    [ "$rbac_ok" = 1 ]

# Two FlinkDeployments in namespace audited, made while no webhook is registered.
k delete -f "$TMP/webhooks.yaml" >/dev/null
k create namespace audited >/dev/null
sed -e 's/^  name: ha-without-storage$/  name: audit-bad\n  namespace: audited/' \
    "$ROOT/examples/flink/ha-no-storagedir-bad.yaml" >"$TMP/audit-bad.yaml"
sed -e 's/^  name: s3-ha$/  name: audit-good/' -e 's/^  namespace: flink$/  namespace: audited/' \
    "$ROOT/examples/flink/object-store-good.yaml" >"$TMP/audit-good.yaml"
check "two FlinkDeployments, one breaking flink-ha-storagedir-required, exist before streamguard starts" \
    k create -f "$TMP/audit-bad.yaml" -f "$TMP/audit-good.yaml" -o name
k apply -f "$TMP/webhooks.yaml" >/dev/null
apid_main=$PID aport_main=$PORT alog_main=$LOG
if start_server auditor "${serve_opts[@]}" --audit; then
    AUD_PID=$PID AUD_PORT=$PORT
    LE_PIDS+=("$PID") # stopped on exit, as the replicas
else
    not_ok "streamguard serve --audit starts"
    AUD_PORT=0
fi
PID=$apid_main PORT=$aport_main LOG=$alog_main
aud_metric() {
    curl -sS --max-time 5 --cacert "$TMP/certs/ca.crt" "https://127.0.0.1:$AUD_PORT/metrics" |
        awk -v n="$1" -v r="$2" '$1 ~ "^" n "({|$)" && $1 ~ r {s += $NF} END {print s + 0}'
}
t0=$(date +%s)
until_report 40 audited 'grep -q "^audit-bad flink-ha-storagedir-required .* fail$" <<<"$REP" &&
    grep -q "^audit-good " <<<"$REP"'
check "audit: the objects that predate streamguard are in the PolicyReport audited/streamguard (in $(($(date +%s) - t0)) s): audit-bad fails flink-ha-storagedir-required" \
    grep -q "^audit-bad flink-ha-storagedir-required .* fail$" <<<"$REP"
check "audit: audit-good passes every rule that applies to it (no fail, warn or error)" \
    bash -c "grep -q '^audit-good .* pass$' <<<'$REP' && ! grep '^audit-good ' <<<'$REP' | grep -qv ' pass$'"
grep '^audit-good ' <<<"$REP" | grep -v ' pass$' | sed 's/^/    not a pass: /'
check "audit: audit-bad passes the rules it does not break" grep -q "^audit-bad .* pass$" <<<"$REP"
check "audit: the report is in the published shape (summary, source, severity, timestamp, resources with uid)" \
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
res = r["results"]
s = r["summary"]
assert r["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and r["kind"] == "PolicyReport"
assert s["fail"] == sum(x["result"] == "fail" for x in res) >= 1
assert s["pass"] == sum(x["result"] == "pass" for x in res) >= 1
assert all(x["source"] == "streamguard" and x["scored"] is True and x["severity"] in ("high", "medium", "low")
           and x["timestamp"]["seconds"] > 0 and x["resources"][0]["uid"] and x["message"] for x in res)' \
    "$REPORT_JSON"
check "audit: streamguard_audit_results{policy=flink-ha-storagedir-required,result=fail} is 1" \
    [ "$(aud_metric streamguard_audit_results 'policy="flink-ha-storagedir-required",result="fail"')" = 1 ]

# streamguard audit, from a laptop with the same kubeconfig: the same findings as the report.
"$BIN" audit --kubeconfig "$STREAMGUARD_KUBECONFIG" -p "$TMP/policies" -n audited -o json \
    >"$TMP/audit-cli.json" 2>"$TMP/audit-cli.err"
RC=$?
check "streamguard audit -n audited: exit 1 (audit-bad would be denied now)" [ "$RC" = 1 ]
check "streamguard audit prints the same findings as the report (name, policy, message)" \
    python3 -c '
import json, sys
cli = json.load(open(sys.argv[1]))
rep = json.loads(sys.argv[2])
got = sorted((x["name"], x["policy"], x["message"].split("] ", 1)[1]) for x in cli["results"])
want = sorted((x["resources"][0]["name"], x["policy"], x["message"]) for x in rep["results"]
              if x["result"] != "pass")
assert got == want and got, (got, want)
assert cli["summary"]["documents"] == 2' "$TMP/audit-cli.json" "$REPORT_JSON"

# Fixed: the storageDir is set (through the webhook, which now admits it).
sed -e 's|^    state.checkpoints.dir: s3://flink-state/checkpoints$|&\n    high-availability.storageDir: s3://flink-state/ha|' \
    "$TMP/audit-bad.yaml" >"$TMP/audit-fixed.yaml"
apply "$TMP/audit-fixed.yaml"
expect "audit: the fixed FlinkDeployment is admitted" admitted
t0=$(date +%s)
until_report 30 audited '! grep -q "^audit-bad .* fail$" <<<"$REP" && grep -q "^audit-bad " <<<"$REP"'
check "audit: fixing audit-bad updates its result (no fail, in $(($(date +%s) - t0)) s)" \
    bash -c "! grep -q '^audit-bad .* fail$' <<<'$REP' && grep -q '^audit-bad .* pass$' <<<'$REP'"
k -n audited delete flinkdeployment audit-good --wait=true --timeout=20s >/dev/null
t0=$(date +%s)
until_report 30 audited '! grep -q "^audit-good " <<<"$REP" && [ -n "$REP" ]'
check "audit: deleting audit-good removes its results (in $(($(date +%s) - t0)) s), audit-bad's stay" \
    bash -c "! grep -q '^audit-good ' <<<'$REP' && grep -q '^audit-bad ' <<<'$REP'"
k -n audited delete flinkdeployment audit-bad --wait=true --timeout=20s >/dev/null
t0=$(date +%s)
until_report 30 audited '[ -z "$REP" ]'
check "audit: the last object gone, the empty report is deleted (in $(($(date +%s) - t0)) s)" [ -z "$REP" ]
check "audit: the writes are counted (created, updated, deleted)" \
    bash -c "[ $(aud_metric streamguard_audit_report_writes_total created) -ge 1 ] &&
        [ $(aud_metric streamguard_audit_report_writes_total updated) -ge 1 ] &&
        [ $(aud_metric streamguard_audit_report_writes_total deleted) -ge 1 ]"
if [ "$AUD_PORT" != 0 ]; then
    kill "$AUD_PID"
    wait "$AUD_PID" 2>/dev/null
fi

# --- leader election -----------------------------------------------------------------------
# Two more replicas with --leader-elect on the Lease streamguard-system/streamguard, as the
# user 'streamguard' with exactly deploy/'s Role (kube-apiserver.sh binds it). Here, before the
# token is rotated below, and stopped before the API server restarts.

# le_start NAME: a replica with --leader-elect; LE_PORT[NAME], LE_PID[NAME], its log
# $TMP/NAME.log. The main server's PID, PORT and LOG are kept.
declare -A LE_PORT LE_PID
le_start() {
    local pid=$PID port=$PORT log=$LOG
    if start_server "$1" "${serve_opts[@]}" --leader-elect \
        --leader-elect-namespace streamguard-system --audit; then
        LE_PORT[$1]=$PORT LE_PID[$1]=$PID
        LE_PIDS+=("$PID")
    else
        not_ok "replica $1 with --leader-elect starts"
    fi
    PID=$pid PORT=$port LOG=$log
}
# le_leader NAME: its streamguard_leader (0, 1, or "-" when it does not answer).
le_leader() {
    curl -sS --max-time 2 --cacert "$TMP/certs/ca.crt" "https://127.0.0.1:${LE_PORT[$1]}/metrics" \
        2>/dev/null | awk '$1 == "streamguard_leader" {v = $2} END {print v == "" ? "-" : v}'
}
# le_rounds NAME: its audit rounds (--audit: only a leader audits and writes reports).
le_rounds() {
    curl -sS --max-time 2 --cacert "$TMP/certs/ca.crt" "https://127.0.0.1:${LE_PORT[$1]}/metrics" \
        2>/dev/null | awk '$1 ~ /^streamguard_audit_rounds_total/ {s += $2} END {print s + 0}'
}
# le_id NAME: the identity the replica logged when it started electing.
le_id() { grep -o 'leader election started.*identity=[^ ]*' "$TMP/$1.log" | head -1 | sed 's/.*identity=//'; }
# le_within SECS MIN MAX: MIN <= SECS <= MAX.
le_within() { awk -v s="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(s >= lo && s <= hi)}'; }
lease() { k -n streamguard-system get lease streamguard -o "jsonpath={.spec.$1}" 2>/dev/null; }
# le_wait_leader SECONDS NAME...: waits until exactly one of them leads; prints its name.
le_wait_leader() {
    local t=$1 n who
    shift
    for _ in $(seq 1 $((t * 10))); do
        n=0 who=
        for r in "$@"; do [ "$(le_leader "$r")" = 1 ] && { n=$((n + 1)); who=$r; }; done
        [ "$n" = 1 ] && { echo "$who"; return 0; }
        sleep 0.1
    done
    return 1
}

check "RBAC: streamguard may update the Lease streamguard, not another, and never delete one" \
    bash -c "[ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i update leases/streamguard -n streamguard-system --as streamguard)\" = yes ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i update leases/other -n streamguard-system --as streamguard)\" = no ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i delete leases/streamguard -n streamguard-system --as streamguard)\" = no ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i create leases -n default --as streamguard)\" = no ]"
le_start le1
le_start le2
first=$(le_wait_leader 20 le1 le2)
check "leader election: exactly one of two replicas leads (streamguard_leader 1 on ${first:-none})" \
    [ -n "$first" ]
other=le2
[ "$first" = le2 ] && other=le1
if [ -n "$first" ]; then
    check "leader election: the other replica reports streamguard_leader 0" \
        [ "$(le_leader "$other")" = 0 ]
    for _ in $(seq 1 40); do [ "$(le_rounds "$first")" -ge 1 ] && break; sleep 0.5; done
    check "audit with two replicas: one writer: the leader audits ($(le_rounds "$first") rounds), the other does not ($(le_rounds "$other"))" \
        [ "$(le_rounds "$first")" -ge 1 -a "$(le_rounds "$other")" = 0 ]
    check "leader election: the Lease names the leader ($(lease holderIdentity)), 15 s" \
        [ "$(lease holderIdentity)" = "$(le_id "$first")" -a "$(lease leaseDurationSeconds)" = 15 ]
    check "leader election: its acquireTime and renewTime are MicroTimes" \
        bash -c "grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z\$' <<<'$(lease renewTime)'"
    tr0=$(lease leaseTransitions)
    # kill -9: no release. The other takes over once it has seen no renewal for 15 s, at its
    # next (jittered: 2 to 4.4 s) retry; it may have seen the last renewal up to one retry late.
    kill -9 "${LE_PID[$first]}"
    t0=$(date +%s.%N)
    wait "${LE_PID[$first]}" 2>/dev/null # reaped here: no "Killed" from the shell
    next=$(le_wait_leader 30 "$other")
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    good=0
    [ "$next" = "$other" ] && le_within "$secs" 0 24 && good=1
    check "leader election: leader killed (-9), the other leads in ${secs} s (15 s lease + retries: at most 24)" \
        [ "$good" = 1 ]
    check "leader election: not before the lease duration (${secs} s >= 13: 15 s less the kill's offset within a renewal period)" \
        le_within "$secs" 13 999
    check "leader election: the Lease shows the new holder and leaseTransitions $tr0 -> $(lease leaseTransitions)" \
        [ "$(lease holderIdentity)" = "$(le_id "$other")" -a "$(lease leaseTransitions)" = $((tr0 + 1)) ]
    check "leader election: the new leader logged it" grep -q 'became the leader' "$TMP/$other.log"
    for _ in $(seq 1 40); do [ "$(le_rounds "$other")" -ge 1 ] && break; sleep 0.5; done
    check "audit with two replicas: the new leader takes the audit over ($(le_rounds "$other") rounds)" \
        [ "$(le_rounds "$other")" -ge 1 ]
    # A clean stop releases: a third replica takes over within about two retry periods.
    le_start le3
    sleep 3 # le3 has read the Lease (held) at least once
    check "leader election: the new replica follows (streamguard_leader 0)" [ "$(le_leader le3)" = 0 ]
    tr1=$(lease leaseTransitions)
    kill -TERM "${LE_PID[$other]}"
    t0=$(date +%s.%N)
    next=$(le_wait_leader 20 le3)
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    good=0
    [ "$next" = le3 ] && le_within "$secs" 0 6 && good=1
    check "leader election: SIGTERM releases the Lease; the next replica leads in ${secs} s (at most 6: two retry periods)" \
        [ "$good" = 1 ]
    wait "${LE_PID[$other]}"
    rc=$?
    check "leader election: the stopped leader exited 0 ($rc) and logged the release" \
        bash -c "[ $rc = 0 ] && grep -q 'released the lease' '$TMP/$other.log'"
    check "leader election: the Lease names le3, leaseTransitions $tr1 -> $(lease leaseTransitions)" \
        [ "$(lease holderIdentity)" = "$(le_id le3)" -a "$(lease leaseTransitions)" = $((tr1 + 1)) ]
    # The leader stopped while kube-apiserver does not answer (SIGSTOP): /readyz must turn 503
    # at once, before the release, which waits on the API server (up to its timeout).
    apid_le=$(cat "$CL/apiserver-a.pid")
    kill -STOP "$apid_le"
    kill -TERM "${LE_PID[le3]}"
    sleep 1
    code=$(curl -sS --max-time 2 --cacert "$TMP/certs/ca.crt" -o /dev/null -w '%{http_code}' \
        "https://127.0.0.1:${LE_PORT[le3]}/readyz" 2>/dev/null)
    kill -CONT "$apid_le"
    check "leader election: SIGTERM with kube-apiserver stopped: /readyz 503 within 1 s ($code), the release after it" \
        [ "$code" = 503 ]
fi
for p in "${LE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${LE_PIDS[@]}"; do wait "$p" 2>/dev/null; done
LE_PIDS=()

# --- self-managed certificates (serve --manage-webhook-certs) ------------------------------
# A server that makes its own CA and certificate in the Secret streamguard-system/streamguard-tls
# with exactly deploy/self-managed's RBAC (bound to the user streamguard), and that the webhook
# configurations are pointed at with a caBundle that is not its CA: it must bring every entry's
# caBundle in line, heal a reset by hand within seconds, and kubectl apply must work through it.
MPID=
sm_rbac() {
    python3 - "$ROOT/deploy/self-managed/rbac.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"].endswith("Binding"):
        d["subjects"] = [{"kind": "User", "name": "streamguard", "apiGroup": "rbac.authorization.k8s.io"}]
print(yaml.safe_dump_all(docs))
PY
}
# cabundles: every entry's caBundle of both configurations, one a line.
cabundles() {
    for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
        k get "$kind" streamguard -o 'jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{"\n"}{end}'
    done
}
secret_ca() { k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.data.ca\.crt}' 2>/dev/null; }
# in_sync: every entry carries the Secret's ca.crt.
in_sync() {
    local want
    want=$(secret_ca)
    [ -n "$want" ] && [ "$(cabundles | sort -u)" = "$want" ]
}
# until_in_sync SECONDS: waits for in_sync; SECS says how long it took.
until_in_sync() {
    local t0 end
    t0=$(date +%s%N)
    end=$(($(date +%s) + $1))
    until in_sync; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.25
    done
    SECS=$(awk -v d="$(($(date +%s%N) - t0))" 'BEGIN {printf "%.1f", d / 1e9}')
}
if sm_rbac | k apply -f - >/dev/null; then
    ok "deploy/self-managed's RBAC applies (bound to the user streamguard)"
else
    not_ok "deploy/self-managed's RBAC applies (bound to the user streamguard)"
fi
check "RBAC (self-managed): streamguard may get/update the Secret streamguard-tls, not another, and never list secrets" \
    bash -c "[ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i update secrets/streamguard-tls -n streamguard-system --as streamguard)\" = yes ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i get secrets/other -n streamguard-system --as streamguard)\" = no ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i list secrets -n streamguard-system --as streamguard)\" = no ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i patch validatingwebhookconfigurations/streamguard --as streamguard)\" = yes ] &&
        [ \"\$($KUBECTL --kubeconfig $ADMIN_KUBECONFIG auth can-i patch validatingwebhookconfigurations/other --as streamguard)\" = no ]"
MLOG=$TMP/managed.log
"$BIN" serve --listen 127.0.0.1:0 --manage-webhook-certs --webhook-namespace streamguard-system \
    --webhook-hosts 127.0.0.1 --policies "$TMP/policies" "${serve_opts[@]}" 2>"$MLOG" &
MPID=$!
MPORT=
for _ in $(seq 1 300); do
    MPORT=$(grep 'listening' "$MLOG" 2>/dev/null | grep -o 'port=[0-9]*' | grep -o '[0-9]*$')
    [ -n "$MPORT" ] && break
    kill -0 "$MPID" 2>/dev/null || break
    sleep 0.1
done
if [ -n "$MPORT" ]; then
    ok "serve --manage-webhook-certs starts with no certificate files (port $MPORT)"
    sec_type=$(k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.type}')
    keys=$(k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.data}' |
        python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))')
    check "managed certificates: the Secret streamguard-tls was created ($sec_type: $keys)" \
        [ "$sec_type" = kubernetes.io/tls -a "$keys" = "ca.crt ca.key tls.crt tls.key" ]
    secret_ca | base64 -d >"$TMP/managed-ca.crt"
    k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.data.tls\.crt}' | base64 -d \
        >"$TMP/managed-tls.crt"
    served=$(openssl s_client -connect "127.0.0.1:$MPORT" -servername 127.0.0.1 </dev/null 2>/dev/null |
        openssl x509 -outform PEM 2>/dev/null)
    check "managed certificates: the server serves the Secret's tls.crt, which its ca.crt verifies for 127.0.0.1" \
        bash -c "[ '$served' = \"\$(openssl x509 -in '$TMP/managed-tls.crt' -outform PEM)\" ] &&
            curl -sS --max-time 5 --cacert '$TMP/managed-ca.crt' -o /dev/null https://127.0.0.1:$MPORT/healthz"
    # deploy/'s configurations pointed at it, with the other server's CA (a wrong caBundle).
    sed "s|$SG|https://127.0.0.1:$MPORT|" "$TMP/webhooks.yaml" >"$TMP/webhooks-managed.yaml"
    k apply -f "$TMP/webhooks-managed.yaml" >/dev/null
    SECS=
    until_in_sync 15
    check "managed certificates: a wrong caBundle in every entry is brought in line (in ${SECS:-more than 15} s)" in_sync
    until_denied 10 "$TMP/bad.yaml"
    expect "managed certificates: kubectl apply through it: an invalid FlinkDeployment is denied" \
        denied "says flink-ha-storagedir-required"
    # A GitOps re-apply resets caBundle to what the manifests hold; by hand: an empty one in the
    # Mutating configuration, the old CA in the Validating one. The server is stopped meanwhile
    # (SIGSTOP), so that the reset is seen for certain before it heals; the time is counted from
    # SIGCONT.
    p0=$(curl -sS --max-time 5 --cacert "$TMP/managed-ca.crt" "https://127.0.0.1:$MPORT/metrics" |
        awk '$1 ~ /^streamguard_webhook_cabundle_patches_total/ {s += $2} END {print s + 0}')
    kill -STOP "$MPID"
    k apply -f "$TMP/webhooks-managed.yaml" >/dev/null
    k patch mutatingwebhookconfiguration streamguard --type json \
        -p '[{"op":"replace","path":"/webhooks/0/clientConfig/caBundle","value":""}]' >/dev/null
    reset=1
    grep -qxF "$(secret_ca)" <<<"$(cabundles)" && reset=0
    check "managed certificates: the caBundle is reset by hand (no entry in line)" [ "$reset" = 1 ]
    kill -CONT "$MPID"
    SECS=
    until_in_sync 10
    check "managed certificates: caBundle reset by hand is restored within seconds (${SECS:-more than 10} s)" \
        in_sync
    p1=$(curl -sS --max-time 5 --cacert "$TMP/managed-ca.crt" "https://127.0.0.1:$MPORT/metrics" |
        awk '$1 ~ /^streamguard_webhook_cabundle_patches_total/ {s += $2} END {print s + 0}')
    check "managed certificates: the heal is counted (streamguard_webhook_cabundle_patches_total $p0 -> $p1) and logged" \
        bash -c "[ $p1 -ge $((p0 + 2)) ] && grep -q 'caBundle brought in line' '$MLOG'"
    until_denied 10 "$TMP/bad.yaml"
    expect "managed certificates: after the heal, kubectl apply of an invalid FlinkDeployment is denied" \
        denied "says flink-ha-storagedir-required"
    fd managed-good shared-rwx-managed >"$TMP/managed-good.yaml"
    claim shared-rwx-managed ReadWriteMany
    ok_apply=
    for _ in $(seq 1 10); do
        apply "$TMP/managed-good.yaml"
        admitted && { ok_apply=1; break; }
        sleep 0.5
    done
    expect "managed certificates: after the heal, kubectl apply of a valid FlinkDeployment is admitted" \
        admitted
    # A restart finds the Secret and serves the same certificate (nothing is issued again).
    kill "$MPID"
    wait "$MPID" 2>/dev/null
    serial0=$(openssl x509 -in "$TMP/managed-tls.crt" -noout -serial)
    "$BIN" serve --listen 127.0.0.1:0 --manage-webhook-certs --webhook-namespace streamguard-system \
        --webhook-hosts 127.0.0.1 --policies "$TMP/policies" "${serve_opts[@]}" 2>"$MLOG.2" &
    MPID=$!
    for _ in $(seq 1 300); do grep -q listening "$MLOG.2" 2>/dev/null && break; sleep 0.1; done
    serial1=$(k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.data.tls\.crt}' |
        base64 -d | openssl x509 -noout -serial)
    check "managed certificates: a restart serves the Secret's certificate again, none issued ($serial1)" \
        bash -c "[ '$serial0' = '$serial1' ] && ! grep -q 'Secret created\|Secret updated' '$MLOG.2'"
    # Two replicas with --leader-elect: only the leader writes (the Secret, made again from
    # nothing, and the caBundle); the other serves what the leader wrote. The leader killed,
    # the other takes over, and a re-apply that resets caBundle is healed by it.
    kill "$MPID"
    wait "$MPID" 2>/dev/null
    MPID=
    k -n streamguard-system delete secret streamguard-tls >/dev/null
    declare -A MR_PORT MR_PID
    for r in m1 m2; do
        "$BIN" serve --listen 127.0.0.1:0 --manage-webhook-certs --webhook-namespace streamguard-system \
            --webhook-hosts 127.0.0.1 --policies "$TMP/policies" "${serve_opts[@]}" \
            --leader-elect --leader-elect-namespace streamguard-system 2>"$TMP/$r.log" &
        MR_PID[$r]=$!
        LE_PIDS+=("$!")
    done
    for r in m1 m2; do
        for _ in $(seq 1 600); do
            MR_PORT[$r]=$(grep 'listening' "$TMP/$r.log" 2>/dev/null | grep -o 'port=[0-9]*' | grep -o '[0-9]*$')
            [ -n "${MR_PORT[$r]}" ] && break
            sleep 0.1
        done
    done
    secret_ca | base64 -d >"$TMP/managed-ca.crt"
    mr_metric() { # mr_metric REPLICA NAME: its value
        curl -sS --max-time 3 --cacert "$TMP/managed-ca.crt" "https://127.0.0.1:${MR_PORT[$1]}/metrics" \
            2>/dev/null | awk -v n="$2" '$1 == n {v = $2} END {print v == "" ? "-" : v}'
    }
    mr_served() {
        openssl s_client -connect "127.0.0.1:${MR_PORT[$1]}" </dev/null 2>/dev/null |
            openssl x509 -noout -serial 2>/dev/null
    }
    lead= follow=
    for _ in $(seq 1 100); do
        [ "$(mr_metric m1 streamguard_leader)" = 1 ] && { lead=m1 follow=m2; break; }
        [ "$(mr_metric m2 streamguard_leader)" = 1 ] && { lead=m2 follow=m1; break; }
        sleep 0.2
    done
    sserial=$(k -n streamguard-system get secret streamguard-tls -o 'jsonpath={.data.tls\.crt}' |
        base64 -d | openssl x509 -noout -serial)
    check "managed, two replicas: both start, one leads ($lead), both serve the Secret's certificate ($sserial)" \
        bash -c "[ -n '$lead' ] && [ '$(mr_served m1)' = '$sserial' ] && [ '$(mr_served m2)' = '$sserial' ]"
    if [ -n "$lead" ]; then
        sed "s|$SG|https://127.0.0.1:${MR_PORT[$follow]}|" "$TMP/webhooks.yaml" >"$TMP/webhooks-mr.yaml"
        k apply -f "$TMP/webhooks-mr.yaml" >/dev/null
        SECS=
        until_in_sync 10
        check "managed, two replicas: the caBundle reset by a re-apply is healed (${SECS:-more than 10} s)" in_sync
        check "managed, two replicas: only the leader wrote ($lead: created the Secret and patched; $follow: neither)" \
            bash -c "grep -q 'Secret created' '$TMP/$lead.log' && grep -q 'caBundle brought in line' '$TMP/$lead.log' &&
                ! grep -q 'Secret created\|Secret updated\|caBundle brought in line' '$TMP/$follow.log'"
        kill -9 "${MR_PID[$lead]}"
        wait "${MR_PID[$lead]}" 2>/dev/null
        for _ in $(seq 1 150); do
            [ "$(mr_metric "$follow" streamguard_leader)" = 1 ] && break
            sleep 0.2
        done
        k apply -f "$TMP/webhooks.yaml" >/dev/null # the stale CA again
        k apply -f "$TMP/webhooks-mr.yaml" >/dev/null
        SECS= healed=0
        until_in_sync 10 && healed=1
        check "managed, two replicas: the leader killed, $follow leads and heals a reset caBundle (${SECS:-more than 10} s)" \
            bash -c "[ $healed = 1 ] && [ '$(mr_metric "$follow" streamguard_leader)' = 1 ] &&
                grep -q 'caBundle brought in line' '$TMP/$follow.log'"
        until_denied 10 "$TMP/bad.yaml"
        expect "managed, two replicas: kubectl apply through the new leader: denied" denied \
            "says flink-ha-storagedir-required"
    fi
    for r in m1 m2; do kill "${MR_PID[$r]}" 2>/dev/null; wait "${MR_PID[$r]}" 2>/dev/null; done
else
    not_ok "serve --manage-webhook-certs starts with no certificate files" "$(tail -5 "$MLOG")"
fi
[ -n "$MPID" ] && kill "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
MPID=
# The other cases use the first server again.
k apply -f "$TMP/webhooks.yaml" >/dev/null || not_ok "the webhook configurations point at the first server again"
until_denied 10 "$TMP/bad.yaml"

pvc_objects() { metric streamguard_kube_objects 'PersistentVolumeClaim'; }
restarts() { metric streamguard_kube_watch_restarts_total "${1:-.}"; }

# kube-apiserver A restarted: streamguard stays ready, its watches come back, and a claim
# created after the restart reaches the cache.
r0=$(restarts)
"$KS" stop-apiserver "$CL" a
notready=0
for _ in 1 2 3 4 5 6; do
    [ "$(sg_get /readyz)" = 200 ] || notready=$((notready + 1))
    sleep 0.5
done
"$KS" start-apiserver "$CL" a || not_ok "kube-apiserver A starts again"
for _ in 1 2 3 4; do [ "$(sg_get /readyz)" = 200 ] || notready=$((notready + 1)); done
check "kube-apiserver restarted: streamguard's /readyz stayed 200 (10 probes)" [ "$notready" = 0 ]
claim after-restart ReadWriteOnce
want=$(k get pvc -A -o name | wc -l)
got=
for _ in $(seq 1 60); do
    got=$(pvc_objects)
    [ "$got" = "$want" ] && break
    sleep 0.5
done
check "kube-apiserver restarted: the watch recovered (cached claims $got of $want within 30 s)" \
    [ "$got" = "$want" ]
check "kube-apiserver restarted: the watch restart is counted ($r0 -> $(restarts))" \
    [ "$(restarts)" -gt "$r0" ]

# etcd compacted while A was down: when A is back, a watch from streamguard's old
# resourceVersion gets 410 Gone; streamguard must list again, not keep the RWX claim it had.
claim compacted ReadWriteMany
fd on-compacted compacted >"$TMP/on-compacted.yaml"
# First the cache must hold it as RWX: otherwise a stale cache could not show.
for _ in $(seq 1 10); do
    apply "$TMP/on-compacted.yaml" --dry-run=server
    admitted && ! warned && break
    sleep 0.5
done
expect "etcd compaction, before: the RWX claim is in the cache (admitted, no warning)" admitted \
    '! warned'
g0=$(restarts 'gone|Gone|expired|Expired|410')
"$KS" stop-apiserver "$CL" a
k delete pvc compacted --wait=true --timeout=20s >/dev/null 2>&1
claim compacted ReadWriteOnce
for i in 1 2 3 4 5; do claim "churn-$i" ReadWriteOnce; done
rev=$(ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ETCD" --command-timeout=5s endpoint status -w json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
check "etcd compacted to revision $rev" \
    env ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ETCD" --command-timeout=10s compact "$rev"
"$KS" start-apiserver "$CL" a || not_ok "kube-apiserver A starts again"
t0=$(date +%s)
until_denied 40 "$TMP/on-compacted.yaml"
expect "etcd compacted past the watch: re-listed, the RWX-then-RWO claim is denied (in $(($(date +%s) - t0)) s, at most 40)" \
    denied "says 'with accessModes [ReadWriteOnce]'"
check "etcd compacted past the watch: a 410 Gone restart is counted" \
    [ "$(restarts 'gone|Gone|expired|Expired|410')" -gt "$g0" ]

# The token file replaced: the old user loses its rights, the new one gets them; a lookup that
# must go to the API server (a claim nobody created: a cache miss, then a live GET) works only
# with the new token. With the old one it is refused (403: could not be asked: denied).
k create clusterrolebinding streamguard-lookup-rotated --clusterrole streamguard-lookup \
    --user streamguard-rotated >/dev/null
k delete clusterrolebinding streamguard-lookup-user >/dev/null
for _ in $(seq 1 20); do
    [ "$(ka auth can-i list persistentvolumeclaims --as streamguard)" = no ] &&
        [ "$(ka auth can-i list persistentvolumeclaims --as streamguard-rotated)" = yes ] && break
    sleep 0.25
done 2>/dev/null
cp "$CL/tokens/streamguard-rotated" "$TMP/token.new" && mv "$TMP/token.new" "$STREAMGUARD_TOKEN_FILE"
n0=$(metric streamguard_kube_lookups_total 'outcome="not_found"')
fd after-rotation never-created >"$TMP/after-rotation.yaml"
apply "$TMP/after-rotation.yaml" --dry-run=server
expect "token file replaced: the next lookup uses the new token (admitted, not-found warning)" \
    admitted "not_found never-created"
check "token file replaced: that lookup asked the API server (lookups not_found counted)" \
    [ "$(metric streamguard_kube_lookups_total 'outcome="not_found"')" -gt "$n0" ]

# The API server frozen (SIGSTOP: connections are accepted, nothing answers): the live GET of a
# claim the cache does not hold must time out (--lookup-timeout 1000 ms), not hold the review
# until kube-apiserver's webhook timeout; failurePolicy Fail denies.
apid=$(cat "$CL/apiserver-a.pid")
kill -STOP "$apid"
fd while-frozen frozen-claim >"$TMP/while-frozen.yaml"
apply "$TMP/while-frozen.yaml" --dry-run=server
kill -CONT "$apid"
expect "API server frozen: the lookup times out and failurePolicy Fail denies (in ${SECS} s)" \
    denied "says flink-ha-storage-rwx" '[ "$SECS" -le 5 ]'

# The API server stopped: a lookup that the cache cannot answer is "could not be asked", so
# flink-ha-storage-rwx's failurePolicy Fail denies; nothing hangs, the server stays up.
"$KS" stop-apiserver "$CL" a
fd while-down nobody-knows >"$TMP/while-down.yaml"
apply "$TMP/while-down.yaml" --dry-run=server
expect "API server stopped: a lookup is 'could not be asked', failurePolicy Fail denies (in ${SECS} s)" \
    denied "says flink-ha-storage-rwx" '[ "$SECS" -le 8 ]'
check "API server stopped: the unavailable lookup is counted" \
    [ "$(metric streamguard_kube_lookups_total 'outcome="unavailable"')" -gt 0 ]
apply "$TMP/bad.yaml" --dry-run=server
expect "API server stopped: a policy without lookups still answers (denied in ${SECS} s)" denied \
    "says flink-ha-storagedir-required" '[ "$SECS" -le 8 ]'
check "API server stopped: streamguard is alive and /healthz is 200" \
    [ "$(sg_get /healthz)" = 200 ]

finish e2e

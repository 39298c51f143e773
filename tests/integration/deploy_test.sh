#!/usr/bin/env bash
# deploy_test.sh BIN - renders every kustomize directory of deploy/ with kubectl 1.20 (Debian's
# kubernetes-client, whose built-in kustomize is the oldest we support) and checks the objects
# (tests/integration/deploy_check.py), the ClusterRole against `BIN lint --lookups policies/`,
# and deploy/Dockerfile (tests/integration/image_check.py).
# Uses $KUBECTL if set, else a kubectl 1.20 on the PATH, else the binary from the
# kubernetes-client package, unpacked without installing it (a machine may have another kubectl
# installed) by scripts/kube-apiserver.sh, as the e2e tests use it.
# Prints "N passed, N failed" last.
set -eu
BIN=$(realpath "${1:-build/streamguard}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

find_kubectl() {
    if [ -n "${KUBECTL:-}" ]; then echo "$KUBECTL"; return; fi
    if command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | grep -q 'Minor:"20"'; then
        command -v kubectl
        return
    fi
    scripts/kube-apiserver.sh kubectl || {
        echo "deploy_test: no kubectl 1.20 (install Debian's kubernetes-client, or set KUBECTL)" >&2
        exit 1
    }
}
K=$(find_kubectl)
echo "# $("$K" version --client --short 2>/dev/null || "$K" version --client | head -1)"

# static-certs needs a certificate to render: make one in a copy of deploy/
cp -r deploy "$TMP/deploy"
"$BIN" certs generate --out "$TMP/deploy/static-certs/certs" \
    --host streamguard.streamguard-system.svc --host streamguard.streamguard-system.svc.cluster.local >/dev/null
for d in base cert-manager static-certs self-managed monitoring; do
    "$K" kustomize "$TMP/deploy/$d" >"$TMP/$d.yaml"
done
# The kinds the shipped policies look up, which the ClusterRole must grant and nothing more.
"$BIN" lint --lookups policies/ >"$TMP/lookups.txt" || {
    echo "deploy_test: streamguard lint --lookups policies/ failed" >&2
    exit 1
}
# The kinds the background audit lists and watches, which its ClusterRole must grant.
"$BIN" audit --list-kinds -p policies/ >"$TMP/audit-kinds.txt" || {
    echo "deploy_test: streamguard audit --list-kinds -p policies/ failed" >&2
    exit 1
}
rc=0
python3 tests/integration/deploy_check.py "$TMP" "$TMP/deploy/static-certs/certs/tls.crt" "$TMP/lookups.txt" \
    "$TMP/audit-kinds.txt" || rc=1
# deploy/Dockerfile without Docker: its packages against what its binary links and the build
# uses, and its build context (COPY, .dockerignore) built with its make command.
python3 tests/integration/image_check.py || rc=1
exit $rc

#!/bin/bash
# kube-apiserver.sh - a real Kubernetes control plane (etcd + kube-apiserver 1.20) on loopback,
# for the end-to-end tests (tests/e2e/). Debian packages only, nothing downloaded from elsewhere.
#
#   kube-apiserver.sh build          build once into $STREAMGUARD_KUBE_CACHE (idempotent)
#                                    (default /var/cache/streamguard/kube-1.20)
#   kube-apiserver.sh kubectl        print the path of kubectl 1.20 (unpacked when missing)
#   kube-apiserver.sh start DIR      start etcd and two kube-apiservers, write DIR/env (the
#                                    shell variables a test sources) and the kubeconfigs
#   kube-apiserver.sh stop DIR       stop what 'start DIR' started
#   kube-apiserver.sh stop-apiserver DIR NAME / start-apiserver DIR NAME   (NAME: a or b)
#
# build: Debian bookworm's 'kubernetes' source package (1.20.5+really1.20.2) vendors its Go
# dependencies, so it builds offline with Debian's golang-go. The steps, each needed:
#   - a deb-src line for bookworm on the mirror already configured, then 'apt-get source';
#   - GOPATH mode (GO111MODULE=off), as its own hack/lib/init.sh does: -mod=vendor fails with
#     Go 1.19 (the vendor tree predates the vendor/modules.txt checks);
#   - 'make gen_openapi' first (needs rsync), or linking fails on GetOpenAPIDefinitions;
#   - the vendored modern-go/reflect2 1.0.1 faults ("fatal error: fault") on the first write of
#     a custom resource under Go >= 1.18: it and json-iterator/go are replaced by Debian's
#     golang-github-modern-go-reflect2-dev (1.0.2) and golang-github-json-iterator-go-dev;
#   - under Go >= 1.16 the vendored OpenAPI validators take "" (any zero value) for null, so
#     1.20 refuses a custom resource with an empty string ("spec.image: Invalid value: "null":
#     in body must be of type string") and a CRD with default: "" (kubernetes issue 99804).
#     The fix kubernetes took (kube-openapi PR 230, in 1.21: only nil is null) is applied to
#     both vendored copies of typeValidator.Validate.
# kubectl 1.20 is unpacked from the kubernetes-client .deb (the machine may have another kubectl
# on the PATH, which must stay), etcd and etcdctl from etcd-server and etcd-client (unpacked, so
# no service is installed or started). The cache lives outside the clone: a fresh clone (CI)
# reuses a build made before.
#
# start: one etcd, two kube-apiservers on it (A and B), all on 127.0.0.1. Two, so a test can
# stop A (the one streamguard watches) while it changes objects through B, and compact etcd
# meanwhile: when A comes back, streamguard's watch from its old resourceVersion gets 410 Gone.
# Token authentication (DIR/tokens.csv), RBAC, and the admission webhook plugins on.
# DIR/admin.kubeconfig is cluster-admin through B; DIR/streamguard.kubeconfig is the user
# 'streamguard' through A, its token read from DIR/streamguard.token ('tokenFile:'), so a test
# can rotate it. Every wait is bounded; progress goes to stderr.
set -eu

CACHE=${STREAMGUARD_KUBE_CACHE:-/var/cache/streamguard/kube-1.20}
KPKG=kubernetes
# What the build does to the source: a cache built by another recipe is built again.
RECIPE="1.20.2 debian-reflect2+json-iterator go-openapi-zero-value"
say() { echo "kube-apiserver.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# build

# The deb-src line: the same mirror as the configured bookworm 'deb' source, in deb822 form.
add_deb_src() {
    local f=/etc/apt/sources.list.d/streamguard-bookworm-src.sources
    [ -f "$f" ] && return 0
    local uri
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u != "" {print u; exit}
               /^$/ {u=""}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    say "adding deb-src for bookworm from $uri ($f)"
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: %s\n' \
        "$uri" /usr/share/keyrings/debian-archive-keyring.gpg >"$f"
}

# unpack_deb PKG DEST: the package's files under DEST, nothing installed.
unpack_deb() {
    local pkg=$1 dest=$2 tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "$pkg" >/dev/null) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    mkdir -p "$dest"
    dpkg-deb -x "$tmp"/"$pkg"_*.deb "$dest"
    rm -rf "$tmp"
}

build() {
    [ "$(id -u)" -eq 0 ] || die "build needs root (apt-get)"
    local t0 bin=$CACHE/bin
    t0=$(date +%s)
    if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ] &&
        [ -x "$bin/etcdctl" ] && [ "$(cat "$bin/.recipe" 2>/dev/null)" = "$RECIPE" ]; then
        say "already built in $CACHE"
        return 0
    fi
    mkdir -p "$CACHE" "$bin"
    export DEBIAN_FRONTEND=noninteractive
    add_deb_src
    say "apt-get update"
    apt-get update -qq >&2
    # Only what is missing: packages already installed are not upgraded under other users.
    local p missing=
    for p in golang-go rsync dpkg-dev make gcc libc6-dev golang-github-modern-go-reflect2-dev \
        golang-github-json-iterator-go-dev openssl curl python3; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing$missing"
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >&2
    fi

    if [ ! -x "$bin/etcd" ] || [ ! -x "$bin/etcdctl" ] || [ ! -x "$bin/kubectl" ]; then
        say "unpacking etcd-server, etcd-client and kubernetes-client"
        rm -rf "$CACHE/etcd"
        unpack_deb etcd-server "$CACHE/etcd"
        unpack_deb etcd-client "$CACHE/etcd"
        ln -sf "$CACHE/etcd/usr/bin/etcd" "$bin/etcd"
        ln -sf "$CACHE/etcd/usr/bin/etcdctl" "$bin/etcdctl"
        kubectl_path >/dev/null
        "$bin/kubectl" version --client 2>/dev/null | grep -q 'Minor:"20"' ||
            die "the kubernetes-client package is not kubectl 1.20"
    fi

    if [ ! -x "$bin/kube-apiserver" ] || [ "$(cat "$bin/.recipe" 2>/dev/null)" != "$RECIPE" ]; then
        rm -f "$bin/kube-apiserver"
        build_apiserver
        ln -sf "$(apiserver_out)" "$bin/kube-apiserver"
        echo "$RECIPE" >"$bin/.recipe"
    fi
    say "built in $(($(date +%s) - t0)) s into $bin"
}

srcdir() { find "$CACHE/src" -maxdepth 1 -type d -name "$KPKG-*" | head -1; }
apiserver_out() { echo "$(srcdir)/_output/local/bin/linux/$(go env GOARCH)/kube-apiserver"; }

build_apiserver() {
    local src
    src=$(srcdir)
    if [ -z "$src" ]; then
        say "apt-get source $KPKG"
        rm -rf "$CACHE/src.tmp"
        mkdir -p "$CACHE/src.tmp"
        # _apt cannot write into a root-only directory: no sandbox for the download.
        (cd "$CACHE/src.tmp" && apt-get source -qq -o APT::Sandbox::User=root "$KPKG" >&2) ||
            die "apt-get source $KPKG failed"
        mv "$CACHE/src.tmp" "$CACHE/src"
        src=$(srcdir)
    fi
    [ -n "$src" ] || die "no $KPKG source directory under $CACHE/src"
    cd "$src"

    # Debian's reflect2 and json-iterator in place of the vendored ones (see the top).
    local v=vendor/github.com
    if [ ! -e "$v/modern-go/reflect2/.debian" ]; then
        say "replacing vendored reflect2 and json-iterator with Debian's"
        rm -rf "$v/modern-go/reflect2" "$v/json-iterator/go"
        cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$v/modern-go/reflect2"
        cp -r /usr/share/gocode/src/github.com/json-iterator/go "$v/json-iterator/go"
        touch "$v/modern-go/reflect2/.debian"
    fi

    # Go >= 1.16: "" is not null (kube-openapi PR 230).
    local f
    for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go \
        vendor/github.com/go-openapi/validate/type.go; do
        if grep -q 'data == nil || reflect.DeepEqual(reflect.Zero' "$f"; then
            say "$f: only nil is null"
            sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$f"
            grep -q '	if data == nil {$' "$f" || die "$f: the zero-value check is not where expected"
        fi
    done

    export GO111MODULE=off GOFLAGS='' GOPROXY=off GOCACHE="$CACHE/gocache"
    say "make gen_openapi (GOPATH mode)"
    make gen_openapi >&2 || die "make gen_openapi failed"
    say "building kube-apiserver (about 5 minutes on 2 cores)"
    make WHAT=cmd/kube-apiserver GOFLAGS=-p=2 >&2 || die "building kube-apiserver failed"
    [ -x "$(apiserver_out)" ] || die "no kube-apiserver at $(apiserver_out)"
}

# kubectl: the path of kubectl 1.20 (unpacked from kubernetes-client into the cache when it is
# not there yet; tests/integration/deploy_test.sh uses it too).
kubectl_path() {
    local k=$CACHE/bin/kubectl
    if [ ! -x "$k" ]; then
        mkdir -p "$CACHE/bin"
        local tmp
        tmp=$(mktemp -d)
        # apt-get download needs the package lists: update once when they lack the package.
        (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1) ||
            { apt-get update -qq >&2 && (cd "$tmp" && apt-get download kubernetes-client >/dev/null); } ||
            { rm -rf "$tmp"; die "cannot download Debian's kubernetes-client"; }
        mkdir -p "$CACHE/kubectl"
        dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$CACHE/kubectl"
        rm -rf "$tmp"
        ln -sf "$CACHE/kubectl/usr/bin/kubectl" "$k"
    fi
    echo "$k"
}

# ---------------------------------------------------------------------------------------------
# start, stop

need_built() {
    local b
    for b in etcd etcdctl kube-apiserver kubectl; do
        [ -x "$CACHE/bin/$b" ] || die "no $CACHE/bin/$b: run '$0 build' first"
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.5 s until it succeeds, at most SECONDS.
wait_for() {
    local secs=$1 what=$2
    shift 2
    for _ in $(seq 1 $((secs * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    say "$what: not ready after $secs s"
    return 1
}

# The pid of a process of ours: its pid file names it and its command line holds DIR (a pid
# reused by another process is left alone).
pid_of() {
    local f=$1/$2.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$1" &&
        echo "$pid"
}

# stop_proc DIR NAME: SIGTERM, then SIGKILL after 10 s; waits until it is gone.
stop_proc() {
    local pid
    pid=$(pid_of "$1" "$2") || { rm -f "$1/$2.pid"; return 0; }
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$2 ignored SIGTERM for 10 s: SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$1/$2.pid"
}

make_pki() {
    local p=$1/pki
    mkdir -p "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 2 \
        -subj /CN=streamguard-e2e-ca -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$p/server.key" -out "$p/server.csr" \
        -subj /CN=kube-apiserver 2>/dev/null
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
        >"$p/server.ext"
    openssl x509 -req -in "$p/server.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -out "$p/server.crt" -days 2 -extfile "$p/server.ext" 2>/dev/null
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}

token() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# kubeconfig FILE PORT USER (token|tokenFile) VALUE
kubeconfig() {
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$2
      certificate-authority: $DIR/pki/ca.crt
users:
  - name: $3
    user:
      $4: $5
contexts:
  - name: e2e
    context: {cluster: e2e, user: $3, namespace: default}
current-context: e2e
EOF
}

start_etcd() {
    . "$DIR/env"
    say "starting etcd on 127.0.0.1:$ETCD_PORT"
    nohup "$CACHE/bin/etcd" --name e2e --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
        >"$DIR/etcd.log" 2>&1 </dev/null &
    echo $! >"$DIR/etcd.pid"
    wait_for 30 etcd env ETCDCTL_API=3 "$CACHE/bin/etcdctl" --endpoints "$ETCD" \
        --command-timeout=2s endpoint health || { tail -20 "$DIR/etcd.log" >&2; return 1; }
}

# start_apiserver NAME (a or b): on its port from DIR/env; waits for /readyz (bounded).
start_apiserver() {
    . "$DIR/env"
    local name=$1 port
    case $name in a) port=$A_PORT ;; b) port=$B_PORT ;; *) die "no apiserver $name (a or b)" ;; esac
    say "starting kube-apiserver $name on 127.0.0.1:$port"
    mkdir -p "$DIR/apiserver-$name"
    nohup "$CACHE/bin/kube-apiserver" --etcd-servers "$ETCD" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
        --insecure-port 0 --cert-dir "$DIR/apiserver-$name" \
        --tls-cert-file "$DIR/pki/server.crt" --tls-private-key-file "$DIR/pki/server.key" \
        --token-auth-file "$DIR/tokens.csv" --authorization-mode RBAC \
        --enable-admission-plugins MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
        --disable-admission-plugins StorageObjectInUseProtection \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$DIR/pki/sa.pub" \
        --service-account-signing-key-file "$DIR/pki/sa.key" \
        --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
        --profiling=false --v 1 >>"$DIR/apiserver-$name.log" 2>&1 </dev/null &
    echo $! >"$DIR/apiserver-$name.pid"
    wait_for 120 "kube-apiserver $name" curl -fsS --max-time 2 --cacert "$DIR/pki/ca.crt" \
        "https://127.0.0.1:$port/readyz" || { tail -30 "$DIR/apiserver-$name.log" >&2; return 1; }
}

start() {
    need_built
    [ -f "$DIR/env" ] && die "$DIR already holds a cluster (stop it first)"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    local t0 root
    t0=$(date +%s)
    root=$(cd "$(dirname "$0")/.." && pwd)
    make_pki "$DIR"
    local admin sg sg2
    admin=$(token) sg=$(token) sg2=$(token)
    # Two streamguard users: 'streamguard' (deploy/'s ClusterRole is bound to it) and
    # 'streamguard-rotated' (no rights until a test grants them): a test rotates the token by
    # writing DIR/tokens/streamguard-rotated over DIR/streamguard.token.
    printf '%s,admin,admin,"system:masters"\n%s,streamguard,streamguard\n%s,streamguard-rotated,streamguard-rotated\n' \
        "$admin" "$sg" "$sg2" >"$DIR/tokens.csv"
    mkdir -p "$DIR/tokens"
    printf '%s' "$admin" >"$DIR/tokens/admin"
    printf '%s' "$sg" >"$DIR/tokens/streamguard"
    printf '%s' "$sg2" >"$DIR/tokens/streamguard-rotated"
    printf '%s' "$sg" >"$DIR/streamguard.token"
    local ep pp ap bp
    ep=$(free_port) pp=$(free_port) ap=$(free_port) bp=$(free_port)
    cat >"$DIR/env" <<EOF
# written by kube-apiserver.sh start; sourced by the e2e tests
DIR=$DIR
ETCD_PORT=$ep
ETCD_PEER_PORT=$pp
ETCD=http://127.0.0.1:$ep
A_PORT=$ap
B_PORT=$bp
APISERVER_A=https://127.0.0.1:$ap
APISERVER_B=https://127.0.0.1:$bp
KUBECTL=$CACHE/bin/kubectl
ETCDCTL=$CACHE/bin/etcdctl
CA=$DIR/pki/ca.crt
ADMIN_KUBECONFIG=$DIR/admin.kubeconfig
ADMIN_A_KUBECONFIG=$DIR/admin-a.kubeconfig
STREAMGUARD_KUBECONFIG=$DIR/streamguard.kubeconfig
STREAMGUARD_TOKEN_FILE=$DIR/streamguard.token
EOF
    kubeconfig "$DIR/admin.kubeconfig" "$bp" admin token "$admin"
    kubeconfig "$DIR/admin-a.kubeconfig" "$ap" admin token "$admin"
    kubeconfig "$DIR/streamguard.kubeconfig" "$ap" streamguard tokenFile "$DIR/streamguard.token"
    start_etcd || { stop; die "etcd did not start"; }
    start_apiserver b || { stop; die "kube-apiserver b did not start"; }
    start_apiserver a || { stop; die "kube-apiserver a did not start"; }
    # streamguard's rights: exactly deploy/'s ClusterRole and Role (the leader election's
    # Lease), bound to the user 'streamguard'.
    local k="$CACHE/bin/kubectl --kubeconfig $DIR/admin.kubeconfig --request-timeout=20s"
    { $k apply -f "$root/deploy/base/namespace.yaml" && $k apply -f "$root/deploy/base/rbac.yaml" &&
        $k create clusterrolebinding streamguard-lookup-user --clusterrole streamguard-lookup \
            --user streamguard &&
        $k -n streamguard-system create rolebinding streamguard-leader-election-user \
            --role streamguard-leader-election --user streamguard; } >&2 ||
        { stop; die "could not grant streamguard its ClusterRole and Role"; }
    say "cluster up in $(($(date +%s) - t0)) s: $DIR/env"
}

stop() {
    local n
    for n in apiserver-a apiserver-b etcd; do stop_proc "$DIR" "$n"; done
    rm -f "$DIR/env"
}

cmd=${1:-}
case "$cmd" in
build) build ;;
kubectl) kubectl_path ;;
start | stop | start-apiserver | stop-apiserver)
    [ $# -ge 2 ] || die "usage: $0 $cmd DIR"
    DIR=$2
    [ "$cmd" = start ] || [ ! -d "$DIR" ] || DIR=$(cd "$DIR" && pwd)
    case "$cmd" in
    start) start ;;
    stop) [ ! -d "$DIR" ] || stop ;;
    start-apiserver) start_apiserver "${3:?a or b}" ;;
    stop-apiserver) stop_proc "$DIR" "apiserver-${3:?a or b}" ;;
    esac
    ;;
*) die "usage: $0 build | kubectl | start DIR | stop DIR | stop-apiserver DIR a|b | start-apiserver DIR a|b" ;;
esac

#!/bin/sh
# deps.sh - install the Debian packages a task needs, when they are missing.
#   scripts/deps.sh build      compilers' libraries, cmocka, curl and libcurl (the Kubernetes
#                              API client), openssl, python3-jsonschema and python3-yaml (the
#                              policy schema test), prometheus (its promtool runs the alert
#                              rules' unit tests, make test-alerts), pre-commit (make test
#                              runs the hooks of .pre-commit-hooks.yaml with try-repo)
#                              (for make run/test)
#   scripts/deps.sh valgrind   valgrind
#   scripts/deps.sh bench      nginx, wrk and strace
#   scripts/deps.sh fuzz       clang and its libFuzzer runtime
# As root it runs apt-get (update first); otherwise it prints the command to run.
set -eu

case "${1:-build}" in
build)    pkgs="gcc make pkg-config libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev libyaml-dev libpcre2-dev libcmocka-dev libmimalloc-dev libcurl4-openssl-dev curl openssl ca-certificates procps python3-jsonschema python3-yaml prometheus pre-commit" ;;
valgrind) pkgs="valgrind" ;;
bench)    pkgs="nginx-light wrk procps strace" ;;
fuzz)     pkgs="clang libclang-rt-14-dev" ;;
*) echo "usage: scripts/deps.sh build|valgrind|bench|fuzz" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# nginx-light is one of several nginx flavours: any installed nginx binary will do.
if echo "$missing" | grep -q nginx-light && command -v nginx >/dev/null 2>&1; then
    missing=$(echo "$missing" | sed 's/ nginx-light//')
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
# prometheus is installed for its promtool only: the server the package enables is not wanted
# on a build machine (it would listen on :9090).
case " $missing " in
*" prometheus "*)
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    ;;
esac

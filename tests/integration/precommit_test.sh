#!/usr/bin/env bash
# precommit_test.sh BIN - the hooks of .pre-commit-hooks.yaml, run by Debian's pre-commit with
# `pre-commit try-repo` on a scratch repository (offline: the hooks are language: system and run
# BIN's directory's streamguard from PATH): streamguard-check fails on a denied manifest and
# passes once it is fixed, skipping Helm values and kustomization files; streamguard-lint passes
# the shipped policies and fails on a broken one. And action.yml: valid YAML whose every
# ${{ inputs.X }} and steps.ID are declared, whose build step names what exists here, and whose
# packages are among those scripts/deps.sh installs.
set -u
BIN=$(realpath "$1")
HERE=$(pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; sed 's/^/    /' "$TMP/out" | tail -15; }

if ! command -v pre-commit >/dev/null 2>&1; then
    echo "FAIL - pre-commit is not installed (scripts/deps.sh build installs Debian's pre-commit)"
    exit 1
fi
export PATH="$(dirname "$BIN"):$PATH" PRE_COMMIT_HOME="$TMP/cache" HOME="$TMP/home"
mkdir -p "$HOME"
git config --global user.email test@example.invalid
git config --global user.name test
git config --global init.defaultBranch main
git config --global --add safe.directory '*'

R="$TMP/repo"
mkdir -p "$R/deploy"
cp -r policies "$R/policies"
cp -r tests/fixtures/gitops/apps tests/fixtures/gitops/config tests/fixtures/gitops/values.yaml \
    tests/fixtures/gitops/kustomization.yaml "$R/deploy/"
(cd "$R" && git init -q && git add -A)
# The hook repository: .pre-commit-hooks.yaml as it is in this tree, committed or not
# (try-repo reads the repository's HEAD).
H="$TMP/hooks"
mkdir -p "$H"
cp .pre-commit-hooks.yaml "$H/"
(cd "$H" && git init -q && git add -A && git commit -qm hooks)

try() { (cd "$R" && pre-commit try-repo "$H" "$@" --all-files) >"$TMP/out" 2>&1; }

try streamguard-check
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'deny \[node-sizing-limits\]' "$TMP/out" && grep -q 'skipped' "$TMP/out"; then
    ok "pre-commit streamguard-check fails on the denied manifest, with the deny and the skipped count"
else
    bad "pre-commit streamguard-check fails on the denied manifest (exit $rc)"
fi
if ! grep -qE 'patch \[' "$TMP/out"; then ok "pre-commit streamguard-check runs --quiet (no patches)"; else
    bad "pre-commit streamguard-check runs --quiet"; fi
(cd "$R" && git rm -qf deploy/apps/flink/sizing-bad.yaml)
try streamguard-check
rc=$?
if [ "$rc" -eq 0 ] && grep -qE 'streamguard check\.+Passed' "$TMP/out"; then
    ok "pre-commit streamguard-check passes once the manifest is gone (values, kustomization skipped)"
else
    bad "pre-commit streamguard-check passes once the manifest is gone (exit $rc)"
fi
try streamguard-lint
rc=$?
if [ "$rc" -eq 0 ] && grep -qE 'streamguard lint\.+Passed' "$TMP/out"; then
    ok "pre-commit streamguard-lint passes the shipped policies"
else
    bad "pre-commit streamguard-lint passes the shipped policies (exit $rc)"
fi
cp tests/fixtures/policy/lint/bad-schema.yaml "$R/policies/zz-bad.yaml"
(cd "$R" && git add -A)
try streamguard-lint
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'error\[policy.schema\]' "$TMP/out"; then
    ok "pre-commit streamguard-lint fails on a broken policy, with its error"
else
    bad "pre-commit streamguard-lint fails on a broken policy (exit $rc)"
fi

# action.yml, offline: what can be known without GitHub.
SG_BIN="$BIN" python3 - "$HERE" >"$TMP/out" 2>&1 <<'PY'
import os, re, sys
import yaml
root = sys.argv[1]
a = yaml.safe_load(open(os.path.join(root, "action.yml")))
fails = []
def need(ok, what):
    if not ok:
        fails.append(what)
need(a.get("runs", {}).get("using") == "composite", "runs.using is composite")
need(a.get("name") and a.get("description"), "name and description")
steps = a["runs"]["steps"]
text = open(os.path.join(root, "action.yml")).read()
inputs = set(a.get("inputs", {}))
for m in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text):
    need(m in inputs, f"inputs.{m} is declared")
ids = {s.get("id") for s in steps}
for m in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", text):
    need(m in ids, f"steps.{m} exists")
for name, i in a.get("inputs", {}).items():
    need("description" in i, f"input {name} has a description")
for s in steps:
    need(("run" in s) != ("uses" in s), f"step {s.get('name')} has run or uses")
    need("run" not in s or s.get("shell") == "bash", f"step {s.get('name')} names its shell")
    need("run" not in s or "${{" not in s["run"], f"step {s.get('name')} passes inputs through env, not into the script")
uses = [s["uses"] for s in steps if "uses" in s]
need(any(u.startswith("github/codeql-action/upload-sarif@") for u in uses), "uploads with upload-sarif")
# what the build step runs exists here
need(os.path.isfile(os.path.join(root, "Makefile")) and
     re.search(r"^all:", open(os.path.join(root, "Makefile")).read(), re.M), "make all exists")
need("build/streamguard" in text, "runs the binary make all builds")
# the packages it installs are among what the build needs (scripts/deps.sh build)
deps = open(os.path.join(root, "scripts/deps.sh")).read()
build = re.search(r'^build\)\s+pkgs="([^"]*)"', deps, re.M).group(1).split()
install = [s["run"] for s in steps if "apt-get install" in s.get("run", "")]
need(len(install) == 1, "one step installs packages")
inst = install[0].replace("\\\n", " ").split("--no-install-recommends", 1)[1]
pkgs = inst.split("\n")[0].split()
for p in pkgs:
    need(p in build, f"{p} is a build dependency in scripts/deps.sh")
for p in ("libmicrohttpd-dev", "libgnutls28-dev", "libcjson-dev", "libyaml-dev", "libpcre2-dev",
          "libmimalloc-dev", "libcurl4-openssl-dev", "libssl-dev"):
    need(p in pkgs, f"installs {p}")
# every option it passes exists in check --help
import subprocess
helptext = subprocess.run([os.environ["SG_BIN"], "check", "--help"], capture_output=True, text=True).stdout
for opt in set(re.findall(r"(--[a-z][a-z-]+)", "\n".join(s.get("run", "") for s in steps))):
    if opt in ("--no-install-recommends",):
        continue
    need(opt in helptext, f"check --help has {opt}")
print("\n".join(fails) if fails else "all good")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then ok "action.yml: inputs, steps, build, packages and options agree with this repository"; else
    bad "action.yml: inputs, steps, build, packages and options agree with this repository"; fi
echo
echo "precommit: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

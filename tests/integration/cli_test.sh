#!/usr/bin/env bash
# cli_test.sh BIN - the command line as a user types it: eval (exit codes, output forms,
# bindings, errors with a caret), help texts. Prints "N passed, N failed" last.
set -u
BIN=$(realpath "$1")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASS=0
FAIL=0

# matches FILE PATTERN: the file matches the extended regex, or is empty when PATTERN is '-'.
matches() {
    if [ "$2" = - ]; then [ ! -s "$1" ]; else grep -qE -- "$2" "$1"; fi
}

# expect NAME WANT_EXIT WANT_STDOUT_PATTERN WANT_STDERR_PATTERN ARGS...  ('-': nothing printed)
expect() {
    local name=$1 rc_want=$2 out_pat=$3 err_pat=$4
    shift 4
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" -eq "$rc_want" ] && matches "$TMP/out" "$out_pat" && matches "$TMP/err" "$err_pat"; then
        PASS=$((PASS + 1))
        echo "ok - $name"
    else
        FAIL=$((FAIL + 1))
        echo "FAIL - $name (exit $rc, want $rc_want)"
        sed 's/^/    out: /' "$TMP/out" | head -5
        sed 's/^/    err: /' "$TMP/err" | head -5
    fi
}

cat >"$TMP/flinkdep.json" <<'JSON'
{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment",
 "metadata":{"name":"basic-example"},
 "spec":{"mode":"native","flinkConfiguration":{"scheduler-mode":"REACTIVE"},
         "jobManager":{"resource":{"memory":"2048m","cpu":1}},"job":{"jarURI":"local:///x.jar"}}}
JSON
echo '{"maxMemory":"64Gi"}' >"$TMP/params.json"
echo '{"x":{"int":"41"},"names":{"list":[{"string":"a"},{"string":"b"}]}}' >"$TMP/bindings.json"
echo '{"metadata":' >"$TMP/broken.json"

expect "eval prints plain JSON" 0 '^7$' - eval '1 + 2 * 3'
expect "eval --typed prints the tagged form" 0 '^\{"uint":"3"\}$' - eval --typed '1u + 2u'
expect "eval reads --object" 0 '^true$' - eval --object "$TMP/flinkdep.json" \
    "object.spec.flinkConfiguration['scheduler-mode'].upperAscii() == 'REACTIVE' && object.spec.mode != 'standalone'"
expect "eval reads --params" 0 '^true$' - eval --object "$TMP/flinkdep.json" --params "$TMP/params.json" \
    "flinkMemory(object.spec.jobManager.resource.memory).isLessThan(quantity(params.maxMemory))"
expect "eval reads --bindings in the tagged form" 0 '^"a-b-42"$' - eval --bindings "$TMP/bindings.json" \
    "names.join('-') + '-' + string(x + 1)"
expect "oldObject is null without --old-object" 0 '^null$' - eval 'oldObject'
expect "a map prints as a JSON object" 0 '^\{"a":\[1,2\.5\]\}$' - eval "{'a': [1, 2.5]}"
expect "an evaluation error exits 1 with a caret" 1 - 'error\[expr.no_such_key\]: no such key: nope' \
    eval --object "$TMP/flinkdep.json" 'object.spec.nope == 1'
expect "the caret stands under the missing field" 1 - '^                               \^$' eval --object "$TMP/flinkdep.json" 'has(object.spec) && object.nope'
expect "a syntax error exits 2 with line:col" 2 - '^<expr>:1:4: error\[expr.syntax\]' eval '1 +'
expect "an error on the second line, after UTF-8, has its line and byte column" 2 - '^<expr>:2:8: error\[expr.undeclared\]' eval $'1 +\n\'\xc3\xa9\' + nope'
expect "an evaluation error on the second line has its line:col" 1 - '^<expr>:2:3: error\[expr.div_zero\]' eval $'true &&\n  1 / 0 == 1'
expect "an unknown function exits 2" 2 - "undeclared function 'frob'" eval 'frob(1)'
expect "an unknown variable exits 2" 2 - "undeclared reference to 'nope'" eval 'nope + 1'
cat >"$TMP/dep.yaml" <<'YAML'
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: basic-example
spec:
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    high-availability:
      type: kubernetes
  jobManager:
    resource: {memory: "2048m", cpu: 1}
YAML
printf 'a: 1\n---\nb: 2\n' >"$TMP/two.yaml"
expect "eval reads a YAML manifest" 0 '^true$' - eval --object "$TMP/dep.yaml" \
    "object.spec.flinkConfiguration['high-availability'].type == 'kubernetes' && object.spec.jobManager.resource.cpu == 1"
expect "a broken --object file exits 2" 2 - 'input.yaml' eval --object "$TMP/broken.json" '1'
expect "two documents are not one object" 2 - 'expected one YAML or JSON document, found 2' eval --object "$TMP/two.yaml" '1'
expect "a missing --object file exits 2" 2 - 'io.read' eval --object "$TMP/none.json" '1'
echo '{"object":{"map":[[{"string":"kind"},{"string":"FlinkDeployment"}]]},"variables":{"map":[[{"string":"ha"},{"bool":true}]]}}' >"$TMP/bind-defaults.json"
expect "--bindings replaces the built-in null object" 0 '^"FlinkDeployment"$' - eval --bindings "$TMP/bind-defaults.json" 'object.kind'
expect "--bindings replaces the built-in empty variables" 0 '^true$' - eval --bindings "$TMP/bind-defaults.json" 'variables.ha'
expect "--bindings replaces the null oldObject and request" 0 '^\[1,2\]$' - eval --bindings <(echo '{"oldObject":{"int":"1"},"request":{"int":"2"}}') '[oldObject, request]'
expect "--object and a bound object are one binding given twice" 2 - "binding 'object' is given twice \(by its file option" eval --object "$TMP/flinkdep.json" --bindings "$TMP/bind-defaults.json" 'object.kind'
expect "--params and a bound params are given twice" 2 - "binding 'params' is given twice" eval --params "$TMP/params.json" --bindings <(echo '{"params":{"int":"1"}}') 'params'
expect "a name bound twice in --bindings is an error" 2 - "binding 'x' is given twice" eval --bindings <(echo '{"x":{"int":"1"},"x":{"int":"2"}}') 'x'
expect "a binding name no expression can use is an error" 2 - "binding 'a-b': not a name" eval --bindings <(echo '{"a-b":{"int":"1"}}') '1'
expect "a binding name starting with a digit is an error" 2 - "binding '1x': not a name" eval --bindings <(echo '{"1x":{"int":"1"}}') '1'
expect "a qualified binding name is usable" 0 '^3$' - eval --bindings <(echo '{"a.b":{"int":"3"}}') 'a.b'
expect "bad --bindings exits 2" 2 - 'input.bindings' eval --bindings "$TMP/params.json" '1'
expect "no expression is a usage error" 2 - 'give exactly one expression' eval
expect "NaN needs --typed" 1 - 'no JSON form: NaN or infinity \(use --typed\)' eval '0.0 / 0.0'
expect "a string with a NUL is refused, not cut at it" 1 - 'no JSON form: a string holds a NUL character' eval '"a\x00b"'
expect "a string with a NUL is refused with --typed too" 1 - 'no JSON form: a string holds a NUL' eval --typed "{'k': ['\\u0000/tmp/cp']}"
printf '{"a": "x\\u0000y"}\n' >"$TMP/nulobj.json"
expect "eval: a \\u0000 in --object is an input error with its position" 2 - 'nulobj.json:1:7: error\[input.yaml\]: a string holds a NUL' eval --object "$TMP/nulobj.json" 'object.a'
printf '{"a": "x\000y"}\n' >"$TMP/nulbyte.json" # a NUL byte, which cJSON takes inside a string
expect "eval: a NUL byte in --object is an input error, not a string cut at it" 2 - 'nulbyte.json:1:.*error\[input.yaml\]' eval --object "$TMP/nulbyte.json" 'object.a'
# A patch value built from a CEL string with a NUL is an evaluation error (failurePolicy
# decides), never a patch with the string cut at the NUL.
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: nul-patch}\nspec:\n  match: {resources: [{apiGroups: [""], kinds: [ConfigMap]}]}\n  mutations:\n    - patch: [{op: add, path: /data/dir, valueExpression: "'"'"'\\\\x00/tmp/cp'"'"'"}]\n' >"$TMP/nulpatch.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n' >"$TMP/cm-nul.yaml"
expect "check: a patch value holding a NUL is an evaluation error, not a cut value" 1 \
    'deny \[nul-patch\] mutations\[0\] \(.*nulpatch.yaml:7\) could not be evaluated: valueExpression: the value has no JSON form in `.\\x00/tmp/cp.`$' - \
    check -p "$TMP/nulpatch.yaml" "$TMP/cm-nul.yaml"
# Evaluation errors name the rule (its index and file:line), the error and the expression: on
# one line, cut at 80 bytes (never inside a UTF-8 character). The errors are ones only the run
# can find (a ConfigMap's data is a map of strings the checker does not type), since lint and
# the loader refuse what can only fail.
cat >"$TMP/evalerr.yaml" <<'EOF'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: evalerr}
spec:
  params: {maxParallelism: 64}
  match: {resources: [{kinds: [ConfigMap]}]}
  validations:
    - expression: has(object.data)
    - expression: >-
        object.data.n <= params.maxParallelism   &&
        'éééééééééééééééééééééééééééééééééééééééé' != ''
    - expression: object.data.n
EOF
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {n: "2"}\n' >"$TMP/cm-evalerr.yaml"
expect "check: an evaluation error names the rule, file:line, error and expression (cut)" 1 \
    "deny \\[evalerr\\] validations\\[1\\] \\(.*evalerr.yaml:9\\) could not be evaluated: no matching overload for '_<=_' applied to \\(string, int\\) in \`object.data.n <= params.maxParallelism && 'ééééééééééééééééé\\.\\.\\.\`$" - \
    check -p "$TMP/evalerr.yaml" "$TMP/cm-evalerr.yaml"
expect "check: a validation that is not a boolean says so" 1 \
    "deny \\[evalerr\\] validations\\[2\\] \\(.*evalerr.yaml:12\\) could not be evaluated: not a boolean in \`object.data.n\`$" - \
    check -p "$TMP/evalerr.yaml" "$TMP/cm-evalerr.yaml"
expect "NaN with --typed" 0 '^\{"double":"NaN"\}$' - eval --typed '0.0 / 0.0'
expect "a runaway comprehension hits the step budget" 1 - 'expr.limit' eval \
    '[0,1,2,3,4,5,6,7,8,9].map(a, [0,1,2,3,4,5,6,7,8,9].map(b, [0,1,2,3,4,5,6,7,8,9].map(c, [0,1,2,3,4,5,6,7,8,9].map(d, [0,1,2,3,4,5,6,7,8,9].map(e, a)))))'
expect "catastrophic regex backtracking hits the match limit" 1 - 'match limit' eval \
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('(a+)+\$')"
expect "RE2-only syntax: backreferences are refused" 2 - 'backreferences are not supported' eval "'aa'.matches('(a)\\\\1')"
L="$(dirname "$0")/../fixtures/policy/lint"
expect "lint passes a valid policy" 0 '^1 policy, no problems$' 'note: no webhook configurations found' \
    lint "$L/good.yaml"
expect "lint reports each problem with file:line:col and a caret" 1 - \
    'bad-schema.yaml:6:11: error\[policy.schema\]: spec.action must be one of Deny, Warn, Audit' lint "$L/bad-schema.yaml"
expect "lint puts the caret under the expression's error" 1 - '^                                         \^$' \
    lint "$L/bad-expressions.yaml"
# 9: the 8 of the fixture, and lint's schema check finds that FlinkDeployment has no spec.replicas
expect "lint counts the errors" 1 - '^9 errors$' lint "$L/bad-expressions.yaml"
expect "lint finds duplicate names across files" 1 - 'policy.duplicate' lint "$L/good.yaml" "$L/duplicate.yaml"
expect "lint of a directory without policies" 0 '^0 policies, no problems$' 'note: no webhook' lint "$(dirname "$0")/../fixtures/admission"
expect "lint of a missing path" 1 - 'io.read' lint "$TMP/none"
expect "lint --help" 0 '^usage: streamguard lint' - lint --help
expect "lint: a validation that yields a string is a type error with its position" 1 - \
    "bad-types.yaml:19:20: error\\[expr.type\\]: a validation must yield a bool, not string" lint "$L/bad-types.yaml"
expect "lint: a misspelt param, with did you mean" 1 - \
    "bad-types.yaml:21:43: error\\[expr.field\\]: undeclared param 'maxParalelism' .*did you mean 'maxParallelism'" \
    lint "$L/bad-types.yaml"
expect "lint: a field no version of FlinkDeployment has, with did you mean" 1 - \
    "bad-fields.yaml:15:36: error\\[expr.field\\]: no field 'paralelism' in FlinkDeployment spec.job; did you mean 'parallelism'" \
    lint "$L/bad-fields.yaml"
expect "lint: the caret under the misspelt field" 1 - '^                                       \^$' lint "$L/bad-fields.yaml"
expect "lint: a kind with no schema is not checked" 1 - '^3 errors$' lint "$L/bad-fields.yaml"
expect "lint --crd checks the kinds of that CRD" 1 - \
    "bad-fields.yaml:30:58: error\\[expr.field\\]: no field 'sizee' in Widget spec; did you mean 'size'" \
    lint --crd "$L/crd-widget.yaml" "$L/bad-fields.yaml"
expect "lint --crd of a file that is not a CRD" 1 - 'policy.crd' lint --crd "$L/good.yaml" "$L/good.yaml"
expect "lint: a field Kubernetes added after 1.20.2 (Pod spec.os) is a warning, exit 0" 0 \
    '^1 policy, no errors, 6 warnings$' \
    "newer-kube-fields.yaml:12:32: warning\\[expr.field\\]: 'os' is not in Kubernetes 1.20.2's schema of Pod spec" \
    lint "$L/newer-kube-fields.yaml"
expect "lint: a typo in a Kubernetes kind keeps its hint" 0 'no errors, 6 warnings' \
    "warning\\[expr.field\\]: 'contaners' is not in .*; did you mean 'containers'" lint "$L/newer-kube-fields.yaml"
expect "lint --help names --crd" 0 '--crd FILE' - lint --help

# ---- PolicyParams: a policy's params set from the policy directory and from --params
PP="$(dirname "$0")/../fixtures/policy/params"
printf 'apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: fd}\nspec: {job: {parallelism: 12}}\n' >"$TMP/pp-fd.yaml"
expect "PolicyParams in the policy directory apply (map by map: the rest of node stays)" 1 \
    'deny \[max-parallelism\] parallelism 12 > 8 \(node 16 cpu, 32Gi, s3,gs\)$' - check -p "$PP/policies" "$TMP/pp-fd.yaml"
expect "check --params: applied after the directory's; lists are replaced" 1 \
    'deny \[max-parallelism\] parallelism 12 > 10 \(node 32 cpu, 32Gi, s3\)$' - \
    check -p "$PP/policies" --params "$PP/overlay.yaml" "$TMP/pp-fd.yaml"
expect "lint --params: a good overlay" 0 "^1 policy, no problems$" "no webhook configurations found" lint --params "$PP/overlay.yaml" "$PP/policies"
expect "test: a PolicyParams among a PolicyTest's policies" 0 '2 cases: 2 passed, 0 failed' - test "$PP/params-test.yaml"
"$BIN" lint --params "$PP/bad.yaml" "$PP/policies" >"$TMP/pp-out" 2>"$TMP/pp-err"
echo "rc=$?" >>"$TMP/pp-err"
while IFS= read -r want; do
    if grep -qxF -- "$want" "$TMP/pp-err"; then PASS=$((PASS + 1)); echo "ok - lint --params: $want"
    else FAIL=$((FAIL + 1)); echo "FAIL - lint --params: $want"; sed 's/^/    err: /' "$TMP/pp-err" | head -20; fi
done <<EOF
$PP/bad.yaml:5:16: error[policy.params]: PolicyParams 'typo-in-policy' names policy 'max-paralelism', which is not loaded (did you mean 'max-parallelism'?)
$PP/bad.yaml:10:42: error[policy.params]: policy 'max-parallelism' has no param 'maxParalelism' (did you mean 'maxParallelism'?)
$PP/bad.yaml:15:58: error[policy.params]: param 'maxParallelism' of policy 'max-parallelism' is a number, not a string
$PP/bad.yaml:15:76: error[policy.params]: param 'node.cpu' of policy 'max-parallelism' is a string, not a number
$PP/bad.yaml:15:95: error[policy.params]: param 'schemes' of policy 'max-parallelism' is a list of string, not of int (item 1)
$PP/bad.yaml:20:49: error[policy.params]: policy 'max-parallelism' has no param 'node.disk'
$PP/bad.yaml:22:13: error[policy.params]: a PolicyParams document's apiVersion must be streamguard.dev/v1alpha1
$PP/bad.yaml:30:33: error[policy.params]: unknown field 'extra' in spec
$PP/bad.yaml:32:1: error[policy.params]: a PolicyParams document needs metadata.name
$PP/bad.yaml:34:41: error[policy.params]: spec.params must be a mapping of the params to set
10 errors
rc=1
EOF
expect "lint --params: an int param given a double" 1 - \
    "bad-numbers.yaml:6:58: error\\[policy.params\\]: param 'maxParallelism' of policy 'max-parallelism' is an int, not a double \\(8.5\\): the policy's expressions read it as an int" \
    lint --params "$PP/bad-numbers.yaml" "$PP/policies"
expect "lint --params: a double param given a whole number" 1 - \
    "bad-numbers.yaml:6:73: error\\[policy.params\\]: param 'headroom' of policy 'max-parallelism' is a double, not an int \\(2\\): the policy's expressions read it as a double" \
    lint --params "$PP/bad-numbers.yaml" "$PP/policies"
expect "lint --params: a list of ints given a double" 1 - \
    "bad-numbers.yaml:6:89: error\\[policy.params\\]: param 'weights' of policy 'max-parallelism' is a list of int, not of double \\(item 1\\)" \
    lint --params "$PP/bad-numbers.yaml" "$PP/policies"
expect "check --params with errors exits 2 and says how to lint them" 2 - \
    "the policies in .*/policies with the params of .*/bad.yaml have errors \(streamguard lint --params .*bad.yaml .*policies\)" \
    check -p "$PP/policies" --params "$PP/bad.yaml" "$TMP/pp-fd.yaml"
expect "a --params file holds only PolicyParams" 1 - 'limit.yaml:2: error\[policy.params\]: a params file holds only documents of kind PolicyParams' \
    lint --params "$PP/policies/limit.yaml" "$L/good.yaml"
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: no-params}\nspec:\n  match: {resources: [{kinds: [ConfigMap]}]}\n  validations: [{expression: "true"}]\n' >"$TMP/pp-noparams-policy.yaml"
sed 's/max-parallelism/no-params/' "$PP/overlay.yaml" >"$TMP/pp-noparams.yaml"
expect "PolicyParams for a policy that declares no params" 1 - "pp-noparams.yaml:[0-9]+:[0-9]+: error\\[policy.params\\]: policy 'no-params' \\(.*pp-noparams-policy.yaml:1\\) declares no params" \
    lint --params "$TMP/pp-noparams.yaml" "$TMP/pp-noparams-policy.yaml"
expect "audit --list-kinds takes --params" 2 - 'with the params of' audit --list-kinds -p "$PP/policies" --params "$PP/bad.yaml"
expect "lint: lookup() with a kind that is not a literal, with its position" 1 - \
    "bad-lookups.yaml:14:32: error\\[policy.lookup\\]: the kind of lookup\\(\\) must be a string literal: the server watches" \
    lint "$L/bad-lookups.yaml"
expect "lint: a literal that cannot be an apiVersion" 1 - \
    "bad-lookups.yaml:22:24: error\\[policy.lookup\\]: 'Storage.k8s.io/v1' is not an apiVersion" lint "$L/bad-lookups.yaml"
expect "lint: every lookup problem is counted" 1 - '^8 errors$' lint "$L/bad-lookups.yaml"
expect "lint --lookups prints the kinds the policies look up" 0 '^v1 PersistentVolumeClaim$' - \
    lint --lookups "$(dirname "$0")/../../policies"
expect "lint --lookups: the operator's ConfigMap, named by the policies' params, is one object" 0 \
    '^v1 ConfigMap default/flink-operator-config$' - lint --lookups "$(dirname "$0")/../../policies"
expect "lint --lookups --params: a PolicyParams moving a policy's ConfigMap moves its scope" 0 \
    '^v1 ConfigMap flink-operator/flink-operator-config$' - lint --lookups \
    --params "$(dirname "$0")/../fixtures/policy/lookup-scopes/params.yaml" \
    "$(dirname "$0")/../fixtures/policy/lookup-scopes/policies.yaml"
"$BIN" lint --lookups "$L/../lookups.yaml" >"$TMP/kinds" 2>&1
# a kind every lookup() names by literals is printed as the objects named (the server watches
# those alone); one computed namespace (PersistentVolumeClaim) or a lookupList(): the whole kind
printf '%s\n' 'flink.apache.org/v1beta1 FlinkDeployment f' 'storage.k8s.io/v1 StorageClass' \
    'v1 ConfigMap m' 'v1 Namespace default' 'v1 Node' 'v1 PersistentVolumeClaim' 'v1 Secret s' \
    >"$TMP/kinds.want"
if cmp -s "$TMP/kinds" "$TMP/kinds.want"; then PASS=$((PASS + 1)); echo "ok - lint --lookups: sorted, each once";
else FAIL=$((FAIL + 1)); echo "FAIL - lint --lookups: sorted, each once"; sed 's/^/    /' "$TMP/kinds"; fi
expect "lint --lookups of policies with errors prints no kinds" 1 - 'policy.lookup' lint --lookups "$L/bad-lookups.yaml"
# lint against webhook configurations (issue 12 item 8): fixtures/policy/webhooks/README.md.
W="$(dirname "$0")/../fixtures/policy/webhooks"
expect "lint: policies the webhooks send (table plurals, wildcards, */scale, mutating) pass" 0 \
    '^4 policies, no problems$' - lint "$W/sent"
expect "lint finds DIR/../webhooks.yaml and counts a warning per unsent policy" 0 \
    '^5 policies, no errors, 5 warnings$' 'unsent/\.\./webhooks\.yaml' lint "$W/unsent"
expect "lint: a kind no rule names" 0 'warnings$' \
    "secret\\.yaml:1: warning\\[policy\\.unsent\\]: policy 'secret-unsent' matches Secret \\(group '', resource secrets\\) on CREATE" \
    lint "$W/unsent"
expect "lint: an operation the rule does not send" 0 'warnings$' "'configmap-update-unsent' matches ConfigMap .* on UPDATE, but" \
    lint "$W/unsent"
expect "lint: a cluster-scoped kind under a Namespaced rule" 0 'warnings$' "'node-scope-unsent' matches Node" lint "$W/unsent"
expect "lint: a mutation needs a MutatingWebhookConfiguration rule" 0 'warnings$' \
    "'mutation-unsent' matches FlinkSessionJob .* no rule of a MutatingWebhookConfiguration" lint "$W/unsent"
expect "lint: a main resource where only a subresource is sent" 0 'warnings$' "'deployment-unsent' matches Deployment" \
    lint "$W/unsent"
expect "lint --webhooks: the shipped node-sizing-limits is unsent without stargate.k8ssandra.io" 0 \
    '^1 policy, no errors, 1 warning$' "'node-sizing-limits' matches Stargate \\(group 'stargate.k8ssandra.io', resource stargates\\)" \
    lint --webhooks "$W/no-stargate.yaml" "$(dirname "$0")/../../policies/node-sizing-limits.yaml"
expect "lint --webhooks: and sent with it" 0 '^1 policy, no problems$' - \
    lint --webhooks "$W/with-stargate.yaml" "$(dirname "$0")/../../policies/node-sizing-limits.yaml"
mkdir -p "$TMP/repo/policies" "$TMP/repo/deploy/base"
cp "$W/unsent/secret.yaml" "$TMP/repo/policies/"
cp "$W/webhooks.yaml" "$TMP/repo/deploy/base/"
expect "lint finds DIR/../deploy/base/webhooks.yaml (a checkout's policies/)" 0 '1 warning$' \
    'repo/policies/\.\./deploy/base/webhooks\.yaml' lint "$TMP/repo/policies/"
expect "lint without webhook configurations says it did not check" 0 '^1 policy, no problems$' \
    'note: no webhook configurations found' lint "$L/good.yaml"
expect "lint --webhooks FILE without any" 1 - 'input\.webhooks.*no ValidatingWebhookConfiguration' \
    lint --webhooks "$L/good.yaml" "$L/good.yaml"
expect "lint --webhooks FILE that does not exist" 1 - 'io\.read' lint --webhooks "$TMP/none.yaml" "$L/good.yaml"
expect "lint --webhooks FILE that is not YAML" 1 - 'input\.yaml' lint --webhooks "$L/broken.yaml" "$L/good.yaml"
# ---- check
P="$(dirname "$0")/../fixtures/policy/check"
cat >"$TMP/good.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: flink-settings, namespace: team-a}
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: ok, namespace: team-a}
spec:
  flinkConfiguration:
    high-availability.storageDir: s3://bucket/ha
  job: {jarURI: local:///x.jar, parallelism: 4}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: team-a}
YAML
cat >"$TMP/bad.yaml" <<'YAML'
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: local-ha, namespace: team-b}
spec:
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    high-availability.storageDir: file:///flink-data/ha
  job: {jarURI: local:///x.jar}
YAML
cat >"$TMP/list.yaml" <<'YAML'
apiVersion: v1
kind: List
items:
  - apiVersion: flink.apache.org/v1beta1
    kind: FlinkDeployment
    metadata: {name: in-list, namespace: team-a}
    spec:
      flinkConfiguration: {high-availability.storageDir: "file:///x"}
YAML
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flink-settings, namespace: team-b}\n' >"$TMP/cm-b.yaml"
cat >"$TMP/inputs.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: fine}
---
- just
- a list
---
kind: NoApiVersion
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: still-checked}
spec: {flinkConfiguration: {high-availability.storageDir: "file:///y"}}
---
a: [unclosed
YAML
expect "check: nothing denied exits 0" 0 '^3 documents checked, 1 matched by a policy: 0 denied \(0 denials\), 0 warned' - \
    check -p "$P" "$TMP/good.yaml"
expect "check: a deny exits 1 and points at the field's line" 1 "bad.yaml:7: deny \\[test-deny-local-ha\\] spec.flinkConfiguration.high-availability.storageDir: HA storage on a local path" - \
    check -p "$P" "$TMP/bad.yaml"
expect "check: lookup() without the object warns" 1 "bad.yaml:1: warn \\[test-needs-configmap\\]" - check -p "$P" "$TMP/bad.yaml"
expect "check: --cluster-state feeds lookup()" 1 '0 warned' - check -p "$P" --cluster-state "$TMP/cm-b.yaml" "$TMP/bad.yaml"
# lookupList() among the documents: the given ones win over --cluster-state, a document without
# a namespace is in the one listed, sorted by namespace then name.
mkdir -p "$TMP/lp" "$TMP/lc"
cat >"$TMP/lp/list.yaml" <<'YAML'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: test-list}
spec:
  action: Warn
  match:
    resources: [{kinds: [Service]}]
  validations:
    - expression: "false"
      messageExpression: >-
        'in: ' + lookupList('v1', 'ConfigMap', object.metadata.namespace)
          .map(c, c.metadata.name + '=' + c.data.v).join(',') +
        ' all: ' + lookupList('v1', 'ConfigMap', '')
          .map(c, c.metadata.?namespace.orValue('') + '/' + c.metadata.name + '=' + c.data.v).join(',') +
        ' none: ' + string(lookupList('v1', 'Secret', '').size())
YAML
cat >"$TMP/lc/cluster.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: team-a}
data: {v: cluster}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: team-a}
data: {v: cluster}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: other}
data: {v: cluster}
YAML
cat >"$TMP/svc.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: team-a}
data: {v: given}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: "0"}
data: {v: none}
YAML
expect "check: lookupList() lists the documents, given first, sorted" 0 \
    'warn \[test-list\] in: 0=none,a=given,b=cluster all: /0=none,other/c=cluster,team-a/a=given,team-a/b=cluster none: 0$' - \
    check -p "$TMP/lp" --cluster-state "$TMP/lc" "$TMP/svc.yaml"
expect "check: lookupList() without --cluster-state" 0 \
    'warn \[test-list\] in: 0=none,a=given all: /0=none,team-a/a=given none: 0$' - check -p "$TMP/lp" "$TMP/svc.yaml"
expect "check: mutations are reported as patches" 1 'document 1: patch \[test-default-parallelism\] \[\{"op":"add","path":"/spec/job/parallelism","value":2\}\]' - \
    check -p "$P" "$TMP/bad.yaml"
expect "check: --enforcement warn never denies" 0 'warn \[test-deny-local-ha\]' - check -p "$P" --enforcement warn "$TMP/bad.yaml"
# check decides with the request kube-apiserver sends: resource, requestKind, requestResource,
# userInfo.groups, options, dryRun, and request.object as mutated (the validations run after
# the mutations). Each validation reads one field, so a missing one names itself.
mkdir -p "$TMP/rq"
cat >"$TMP/rq/request.yaml" <<'YAML'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: label-team}
spec:
  match: {resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment]}]}
  mutations:
    - patch: [{op: add, path: /metadata/labels, value: {team: core}}]
---
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: request-fields}
spec:
  match: {resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment, FlinkSessionJob]}]}
  validations:
    - {expression: "request.resource.resource == object.kind.lowerAscii() + 's'", message: resource}
    - {expression: "request.resource.group == 'flink.apache.org' && request.resource.version == 'v1beta1'", message: resource group}
    - {expression: "request.requestResource == request.resource", message: requestResource}
    - {expression: "request.requestKind.kind == object.kind", message: requestKind}
    - {expression: "request.options.kind == 'CreateOptions'", message: options}
    - {expression: "'system:authenticated' in request.userInfo.groups", message: groups}
    - {expression: "request.dryRun && request.operation == 'CREATE'", message: dryRun}
    - {expression: "request.object.metadata.name == object.metadata.name", message: object}
    - {expression: "object.kind != 'FlinkDeployment' || request.object.metadata.labels.team == 'core'", message: mutated object}
YAML
cat >"$TMP/rq-objs.yaml" <<'YAML'
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: a}
spec: {}
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: b}
spec: {}
YAML
expect "check: policies read the request kube-apiserver sends (resource, options, groups...)" 0 \
    '2 documents checked, 2 matched by a policy: 0 denied \(0 denials\), 0 warned, 0 audited, 0 errors' - \
    check -p "$TMP/rq" "$TMP/rq-objs.yaml"
printf 'apiVersion: v1\nkind: List\nmetadata: {}\n' >"$TMP/emptylist.yaml"
expect "check: a List without items is an input error" 2 'emptylist.yaml:1: error: a List needs an items array' - check -p "$P" "$TMP/emptylist.yaml"
expect "check: kind List is expanded" 1 'list.yaml:8: deny \[test-deny-local-ha\]' - check -p "$P" "$TMP/list.yaml"
expect "check: reads standard input" 1 '<stdin>:7: deny' - check -p "$P" - <"$TMP/bad.yaml"
expect "check: bad documents are errors, the others are still checked (a deny: exit 1)" 1 'inputs.yaml:13: deny \[test-deny-local-ha\]' - \
    check -p "$P" "$TMP/inputs.yaml"
expect "check: a document that is not a mapping is skipped" 1 'inputs.yaml:5: skipped: the document is not a mapping' - check -p "$P" "$TMP/inputs.yaml"
expect "check: a document without apiVersion is skipped" 1 'inputs.yaml:8: skipped: the document has no apiVersion' - check -p "$P" "$TMP/inputs.yaml"
expect "check: the summary counts the skipped documents" 1 '1 error, 2 skipped' - check -p "$P" "$TMP/inputs.yaml"
expect "check: the summary says why the exit code is 1" 1 '^exit 1: 1 document denied \(the input errors above' - check -p "$P" "$TMP/inputs.yaml"
expect "check --strict: a document that is not a mapping" 1 'inputs.yaml:5: error: the document is not a mapping' - check --strict -p "$P" "$TMP/inputs.yaml"
expect "check --strict: a document without apiVersion" 1 'inputs.yaml:8: error: the document has no apiVersion' - check --strict -p "$P" "$TMP/inputs.yaml"
expect "check: invalid YAML" 1 'inputs.yaml:1[56]: error: .*flow' - check -p "$P" "$TMP/inputs.yaml"
head -8 "$TMP/inputs.yaml" >"$TMP/inputs-nodeny.yaml"
expect "check: an input error and no deny exits 2, and says why" 2 '^exit 2: nothing denied, but 2 inputs could not be checked' - \
    check --strict -p "$P" "$TMP/inputs-nodeny.yaml"
expect "check: non-objects alone are not errors (exit 0)" 0 '2 skipped' - check -p "$P" "$TMP/inputs-nodeny.yaml"
expect "check --quiet: the denials and the errors" 1 'inputs.yaml:13: deny \[test-deny-local-ha\]' - check -q -p "$P" "$TMP/inputs.yaml"
"$BIN" check --quiet -p "$P" "$TMP/inputs.yaml" "$TMP/bad.yaml" >"$TMP/quiet.out"
"$BIN" check -p "$P" "$TMP/inputs.yaml" "$TMP/bad.yaml" >"$TMP/loud.out"
if ! grep -qE 'patch \[|: warn \[|skipped:' "$TMP/quiet.out" && grep -q 'error: ' "$TMP/quiet.out" &&
    grep -qE 'patch \[' "$TMP/loud.out" && grep -q ': warn \[' "$TMP/loud.out" && grep -q 'skipped:' "$TMP/loud.out" &&
    [ "$(grep -c ': deny \[' "$TMP/quiet.out")" = "$(grep -c ': deny \[' "$TMP/loud.out")" ]; then
    PASS=$((PASS + 1)); echo "ok - check --quiet: no patches, warnings or skipped lines, every deny and error"
else
    FAIL=$((FAIL + 1)); echo "FAIL - check --quiet: no patches, warnings or skipped lines, every deny and error"
fi
# A NUL in a string would cut it for every reader after libyaml: "\0/tmp/cp" was checked as "".
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  dir: "\\0/tmp/cp"\n' >"$TMP/nul.yaml"
printf '{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "x\\u0000y"}}\n' >"$TMP/nul.json"
expect "check: a \\0 in a YAML string is an input error with its line" 2 'nul.yaml:5: error: a string holds a NUL character' - check -p "$P" "$TMP/nul.yaml"
expect "check: a \\u0000 in a JSON string is an input error with its line" 2 'nul.json:2: error: a string holds a NUL character' - check -p "$P" "$TMP/nul.json"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1e+316}\n' >"$TMP/inf.yaml"
expect "check: a number beyond a double is an input error with its line (kubectl refuses it)" 2 'inf.yaml:4: error: the number .* is beyond the range of a double' - check -p "$P" "$TMP/inf.yaml"
expect "check -o json: one object with summary, results, errors, patches" 1 '"denied":	1' - check -p "$P" -o json "$TMP/bad.yaml"
"$BIN" check -p "$P" -o json "$TMP/bad.yaml" "$TMP/good.yaml" >"$TMP/out.json"
for key in '"summary":' '"results":' '"errors":' '"patches":' '"file":' '"document":' '"line":' '"apiVersion":' \
    '"kind":' '"namespace":' '"name":' '"policy":' '"action":' '"message":' '"field":'; do
    if grep -q "$key" "$TMP/out.json"; then PASS=$((PASS + 1)); echo "ok - check -o json has $key"; else
        FAIL=$((FAIL + 1)); echo "FAIL - check -o json has $key"; fi
done
expect "check -o junit" 1 '<failure type="deny" message="\[test-deny-local-ha\]' - check -p "$P" -o junit "$TMP/bad.yaml"
expect "check -o sarif" 1 '"version":	"2.1.0"' - check -p "$P" -o sarif "$TMP/bad.yaml"
expect "check: unknown format" 2 - 'must be text, json, junit or sarif' check -p "$P" -o xml "$TMP/bad.yaml"
expect "check: no PATH" 2 - 'give at least one PATH' check -p "$P"
expect "check: --sarif-root that is not a directory" 2 - '--sarif-root must be a directory' check -p "$P" -o sarif --sarif-root "$TMP/none" "$TMP/bad.yaml"
expect "check: an empty --exclude" 2 - '--exclude must be a non-empty glob' check -p "$P" --exclude '' "$TMP/bad.yaml"
expect "check: broken policies exit 2" 2 - 'have errors' check -p "$L/bad-schema.yaml" "$TMP/bad.yaml"
expect "check: a missing file is an input error" 2 'error: no such file or directory' - check -p "$P" "$TMP/none.yaml"
# A finding points at the deepest node of its field that exists: the key itself, or for a
# missing field its parent (not the document's first line, nor a mapping's first child).
mkdir -p "$TMP/fl"
cat >"$TMP/fl/fields.yaml" <<'YAML'
apiVersion: streamguard.dev/v1alpha1
kind: Policy
metadata: {name: fields}
spec:
  action: Warn
  match: {resources: [{kinds: [FlinkDeployment]}]}
  validations:
    - {expression: "false", message: cpu, field: spec.taskManager.resource.cpu}
    - {expression: "false", message: memory, field: spec.taskManager.resource.memory}
    - {expression: "false", message: tm, field: spec.taskManager}
    - {expression: "false", message: dir, field: "spec.flinkConfiguration.high-availability.storageDir"}
    - {expression: "false", message: image, field: "spec.podTemplate.spec.containers[1].image"}
YAML
cat >"$TMP/fl-dep.yaml" <<'YAML'
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: f}
spec:
  flinkConfiguration:
    high-availability.storageDir: s3://x
  taskManager:
    resource:
      cpu: 1
  podTemplate:
    spec:
      containers:
        - name: a
        - name: b
          image: x
YAML
for want in '9: warn \[fields\] spec.taskManager.resource.cpu: cpu' \
    '8: warn \[fields\] spec.taskManager.resource.memory: memory' '7: warn \[fields\] spec.taskManager: tm' \
    '6: warn \[fields\] spec.flinkConfiguration.high-availability.storageDir: dir' \
    '15: warn \[fields\] spec.podTemplate.spec.containers\[1\].image: image'; do
    expect "check: the line of the field: ${want%%: warn*}" 0 "fl-dep.yaml:$want\$" - check -p "$TMP/fl" "$TMP/fl-dep.yaml"
done
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "'; head -c $((3 * 1024 * 1024 + 100)) /dev/zero | tr '\0' 'x'; printf '"\n'; } >"$TMP/big.yaml"
expect "check: a document over 3 MiB is an error" 2 'larger than 3 MiB' - check -p "$P" "$TMP/big.yaml"
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: '; head -c 500 /dev/zero | tr '\0' '['; head -c 500 /dev/zero | tr '\0' ']'; printf '\n'; } >"$TMP/deep.yaml"
expect "check: nesting past the cap is an error" 2 'nesting deeper than 100 levels' - check -p "$P" "$TMP/deep.yaml"
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n'; for i in 1 2 3 4 5 6 7 8 9; do printf 'a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n' $i $i $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)); done; } >"$TMP/bomb.yaml"
expect "check: an alias bomb is an error" 2 'expands to more than' - check -p "$P" "$TMP/bomb.yaml"
expect "check --help" 0 '^usage: streamguard check' - check --help

# ---- test
SP=$(realpath "$(dirname "$0")/../../policies")
mkdir -p "$TMP/t"
cat >"$TMP/t/suite.yaml" <<EOF
apiVersion: streamguard.dev/v1alpha1
kind: PolicyTest
metadata: {name: suite}
spec:
  policies: [$SP/flink-reactive-requires-standalone.yaml]
  resources:
    - apiVersion: flink.apache.org/v1beta1
      kind: FlinkDeployment
      metadata: {name: r}
      spec: {flinkConfiguration: {scheduler-mode: reactive}}
  cases:
    - {name: right, resource: r, policy: flink-reactive-requires-standalone, result: deny, message: standalone}
    - {name: wrong verdict, resource: r, policy: flink-reactive-requires-standalone, result: pass}
    - {name: wrong message, resource: r, policy: flink-reactive-requires-standalone, result: deny, message: nonsense}
    - {name: no such resource, resource: FlinkDeployment/zz, policy: flink-reactive-requires-standalone, result: deny}
    - {name: unexpected patch, resource: r, policy: flink-reactive-requires-standalone, result: deny, patch: [{op: add, path: /x, value: 1}]}
EOF
expect "test: a passing case is ok" 1 '^  ok   right \(r, flink-reactive-requires-standalone: deny\)' - test "$TMP/t/suite.yaml"
expect "test: a wrong verdict fails and shows what came" 1 'FAIL wrong verdict \(r, flink-reactive-requires-standalone: the verdict differs' - test "$TMP/t/suite.yaml"
"$BIN" test "$TMP/t/suite.yaml" >"$TMP/side" 2>&1
# want and got one above the other, each side's text starting in the same column
if grep -A2 'FAIL wrong verdict' "$TMP/side" | sed -n 2p | grep -qx '         want: pass' &&
    grep -A2 'FAIL wrong verdict' "$TMP/side" | sed -n 3p | grep -q '^         got:  deny: \[flink-reactive-requires-standalone\] spec.mode' &&
    grep -A3 'FAIL wrong verdict' "$TMP/side" | sed -n 4p | grep -q '^               \[flink-reactive-requires-standalone\] spec.job' &&
    grep -A2 'FAIL wrong message' "$TMP/side" | sed -n 2p | grep -qx "         want: deny: a message containing 'nonsense'" &&
    grep -A2 'FAIL unexpected patch' "$TMP/side" | sed -n 2,3p | tr '\n' '|' | grep -qx '         want: \[{"op":"add","path":"/x","value":1}\]|         got:  \[\]|'; then
    PASS=$((PASS + 1)); echo "ok - test: a failure prints want and got side by side"
else
    FAIL=$((FAIL + 1)); echo "FAIL - test: a failure prints want and got side by side"; sed 's/^/    /' "$TMP/side" | head -20
fi
expect "test: a message that does not contain the substring fails" 1 "FAIL wrong message .*does not contain 'nonsense'" - test "$TMP/t/suite.yaml"
expect "test: a resource that is not there fails" 1 "FAIL no such resource .*no resource 'FlinkDeployment/zz'" - test "$TMP/t/suite.yaml"
expect "test: a patch that differs fails" 1 'FAIL unexpected patch .*the patch differs' - test "$TMP/t/suite.yaml"
expect "test: the summary counts" 1 '1 test file, 5 cases: 1 passed, 4 failed' - test "$TMP/t/suite.yaml"
expect "test -o junit" 1 '<testcase classname=".*suite.yaml" name="wrong verdict">' '5 cases: 1 passed, 4 failed' test -o junit "$TMP/t/suite.yaml"
expect "test -o junit: want and got in the failure's text" 1 '^got:  deny: \[flink-reactive' '5 cases: 1 passed, 4 failed' test -o junit "$TMP/t/suite.yaml"
# A case's own request: operation, oldResource (oldObject), userInfo, dryRun, Namespace lookups.
PT=$(realpath "$(dirname "$0")/../fixtures/policytest")
expect "test: UPDATE with oldResource, DELETE, userInfo, dryRun and Namespace lookups" 0 '14 cases: 14 passed, 0 failed' - test "$PT/request-test.yaml"
expect "test: the request a case sent is named" 0 'ok   another user updating \(job \(UPDATE from job-smaller, user bob\), operator-only: deny\)' - test "$PT/request-test.yaml"
R="resource: r, policy: flink-reactive-requires-standalone, result: deny"
head -n -6 "$TMP/t/suite.yaml" >"$TMP/t/req.yaml"
cat >>"$TMP/t/req.yaml" <<EOF
    - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}
  cases:
    - {name: bad op, $R, operation: PATCH}
    - {name: update without old, $R, operation: UPDATE}
    - {name: old on create, $R, oldResource: r}
    - {name: old of another kind, $R, operation: UPDATE, oldResource: cm}
    - {name: old missing, $R, operation: UPDATE, oldResource: nope}
    - {name: bad groups, $R, userInfo: {groups: a}}
    - {name: bad dry, $R, dryRun: "yes"}
    - {name: update keeps the verdict, $R, operation: UPDATE, oldResource: r}
EOF
expect "test: operation must be one of the four" 1 'FAIL bad op \(line [0-9]+: operation must be CREATE, UPDATE, DELETE or CONNECT\)' - test "$TMP/t/req.yaml"
expect "test: an UPDATE needs oldResource" 1 'FAIL update without old \(line [0-9]+: an UPDATE needs oldResource' - test "$TMP/t/req.yaml"
expect "test: oldResource is for UPDATE only" 1 'FAIL old on create \(line [0-9]+: oldResource is for operation UPDATE only' - test "$TMP/t/req.yaml"
expect "test: oldResource of another kind" 1 "FAIL old of another kind \(line [0-9]+: oldResource 'cm' is a v1 ConfigMap" - test "$TMP/t/req.yaml"
expect "test: oldResource that is not there" 1 "FAIL old missing \(line [0-9]+: no resource 'nope' for oldResource" - test "$TMP/t/req.yaml"
expect "test: userInfo.groups must be a list" 1 'FAIL bad groups \(line [0-9]+: userInfo.groups must be a list' - test "$TMP/t/req.yaml"
expect "test: dryRun must be a boolean" 1 'FAIL bad dry \(line [0-9]+: dryRun must be true or false' - test "$TMP/t/req.yaml"
expect "test: an UPDATE case is decided" 1 'ok   update keeps the verdict \(r \(UPDATE from r\), flink-reactive-requires-standalone: deny\)' - test "$TMP/t/req.yaml"
sed 's/groups: a}/name: x}/' "$TMP/t/req.yaml" >"$TMP/t/req-ui.yaml"
expect "test: an unknown key of userInfo is an error (exit 2)" 2 'FAIL bad groups' "req-ui.yaml:[0-9]+:[0-9]+: error\[test.schema\]: unknown field 'name'" test "$TMP/t/req-ui.yaml"
expect "test: a manifest without a namespace is decided in default, as kube-apiserver sends it" 0 '4 cases: 4 passed' - test tests/fixtures/verdicts/namespace-test.yaml
sed 's/^  cases:/  extra: 1\n  cases:/' "$TMP/t/suite.yaml" >"$TMP/t/unknown.yaml"
expect "test: an unknown field is an error with its position (exit 2)" 2 ' 0 cases' "unknown.yaml:[0-9]+:3: error\[test.schema\]: unknown field 'extra'" test "$TMP/t/unknown.yaml"
printf 'apiVersion: streamguard.dev/v1alpha1\nkind: PolicyTest\nspec: {policies: [x], cases: [\n' >"$TMP/t/broken.yaml"
expect "test: invalid YAML (exit 2)" 2 ' 0 cases' 'broken.yaml:[0-9]+:[0-9]+: error' test "$TMP/t/broken.yaml"
sed "s#$SP/flink-reactive-requires-standalone.yaml#$(realpath "$L")/bad-schema.yaml#" "$TMP/t/suite.yaml" >"$TMP/t/badpolicy.yaml"
expect "test: a policy with errors (exit 2)" 2 ' 0 cases' 'error\[policy.schema\]' test "$TMP/t/badpolicy.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' >"$TMP/t/plain.yaml"
expect "test: a file given by name must hold a PolicyTest" 2 ' 0 cases' 'no document of kind PolicyTest' test "$TMP/t/plain.yaml"
mkdir -p "$TMP/t2" && cp "$TMP/t/plain.yaml" "$TMP/t2/"
expect "test: a directory without tests (exit 2)" 2 ' 0 cases' 'no PolicyTest files found' test "$TMP/t2"
# A directory scan parses only the files that name kind PolicyTest: the rest of a repository
# (manifests, Helm values, invalid or huge YAML) is not the tests' business.
mkdir -p "$TMP/t3/charts" "$TMP/t3/tests"
sed '/name: wrong verdict/,$d' "$TMP/t/suite.yaml" >"$TMP/t3/tests/suite.yaml"
printf 'image: {tag: "1.17\n  broken: [\n' >"$TMP/t3/charts/values.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' >"$TMP/t3/charts/cm.yml"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' '#' >"$TMP/t3/charts/big.yaml"
printf '{"kind" : "PolicyTest", "apiVersion": "streamguard.dev/v1alpha1", "spec": {' >"$TMP/t3/tests/flow.yaml"
expect "test DIR: invalid and large YAML that is no PolicyTest is skipped, a broken PolicyTest is not" 2 '1 test file, 1 case: 1 passed' 'flow.yaml:[0-9]+:[0-9]+: error' test "$TMP/t3"
rm "$TMP/t3/tests/flow.yaml"
expect "test DIR: only PolicyTest files are run" 0 '1 test file, 1 case: 1 passed, 0 failed' - test "$TMP/t3"
(cd "$TMP/t3" && "$BIN" test >"$TMP/out" 2>"$TMP/err"; echo $? >"$TMP/rc")
if [ "$(cat "$TMP/rc")" = 0 ] && grep -q '1 test file, 1 case: 1 passed' "$TMP/out" && [ ! -s "$TMP/err" ]; then
    PASS=$((PASS + 1)); echo "ok - test with no PATH: the PolicyTest files under the current directory"
else
    FAIL=$((FAIL + 1)); echo "FAIL - test with no PATH: the PolicyTest files under the current directory"; head -5 "$TMP/out" "$TMP/err"
fi
expect "test: the shipped policy tests pass" 0 '([0-9]+) cases: \1 passed, 0 failed' - test "$SP/../tests/policies" "$SP/../examples"
expect "test --help" 0 '^usage: streamguard test' - test --help

# audit: what can be told without a cluster (the cluster cases are in tests/e2e/).
expect "audit --help" 0 '^usage: streamguard audit' - audit --help
expect "audit --list-kinds: the kinds the shipped validations match, no cluster asked" 0 \
    '^flink.apache.org FlinkDeployment$' - audit --list-kinds -p "$SP"
expect "audit --list-kinds: no mutation-only kind, no wildcard" 0 '^stargate.k8ssandra.io Stargate$' - \
    audit --list-kinds -p "$SP"
saved_kubeconfig=${KUBECONFIG-unset}
unset KUBECONFIG
expect "audit: no kubeconfig and not in a pod: exit 2, said" 2 - 'no cluster: give --kubeconfig' \
    audit -p "$SP"
[ "$saved_kubeconfig" = unset ] || export KUBECONFIG=$saved_kubeconfig
expect "audit: a kubeconfig that does not exist: exit 2" 2 - 'cannot use the kubeconfig' \
    audit -p "$SP" --kubeconfig "$TMP/none.kubeconfig"
cat >"$TMP/dead.kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
EOF
expect "audit: a cluster that does not answer is an error for each kind (exit 2), not an empty audit" 2 \
    'FlinkDeployment:0: error: group flink.apache.org: .*connect' - \
    audit -p "$SP" --kubeconfig "$TMP/dead.kubeconfig"
expect "audit: a bad --output is a usage error" 2 - '--output must be text, json, junit or sarif' \
    audit -p "$SP" -o xml --kubeconfig "$TMP/dead.kubeconfig"
expect "audit: a PATH is a usage error (it reads the cluster)" 2 - 'audit takes no PATH' \
    audit -p "$SP" deploy.yaml
expect "audit: policies with errors (exit 2)" 2 - 'have errors' audit -p "$L" --list-kinds
expect "the command list names audit" 0 '^  audit ' - --help

expect "eval --help" 0 '^usage: streamguard eval' - eval --help
expect "help eval is eval --help" 0 '^usage: streamguard eval' - help eval
expect "the command list names eval" 0 '^  eval ' - --help

echo
echo "cli: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

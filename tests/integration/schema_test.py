#!/usr/bin/env python3
"""schema_test.py - docs/policy.schema.json agrees with the policy loader: every shipped
policy and every valid fixture validates; the schema mistakes of the lint fixtures do not.
docs/policytest.schema.json likewise agrees with 'streamguard test'.
And every shipped policy that can deny and reads flinkConfig() keeps failurePolicy Fail:
flinkConfig() refuses a configuration that Flink versions read differently with an evaluation
error, which failurePolicy Ignore would turn into a warning (docs/expr.md); and every call
passes the job spec, whose fields the operator writes as options as well."""
import glob
import json
import re

import jsonschema
import yaml

from tally import check, finish

schema = json.load(open("docs/policy.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

good = sorted(glob.glob("policies/*.yaml")) + sorted(glob.glob("tests/fixtures/policy/engine/*.yaml")) + \
    sorted(glob.glob("tests/fixtures/policy/check/*.yaml")) + ["tests/fixtures/policy/lint/good.yaml"]
for path in good:
    for i, doc in enumerate(yaml.safe_load_all(open(path))):
        if doc is None:
            continue
        errors = [e.message for e in validator.iter_errors(doc)]
        check(f"{path} document {i + 1} validates" + (f" ({errors[0]})" if errors else ""), not errors)
for path in ["tests/fixtures/policy/lint/bad-schema.yaml", "tests/fixtures/policy/lint/bad-expressions.yaml"]:
    doc = next(yaml.safe_load_all(open(path)))
    check(f"{path} is refused", any(True for _ in validator.iter_errors(doc)))

for path in sorted(glob.glob("policies/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        spec = (doc or {}).get("spec", {})
        denies = any(v.get("action", spec.get("action", "Deny")) == "Deny"
                     for v in spec.get("validations", []))
        if denies and "flinkConfig(" in json.dumps(spec):
            check(f"{path}: a Deny policy reading flinkConfig() has failurePolicy Fail",
                  spec.get("failurePolicy", "Fail") == "Fail")
        text = "".join(json.dumps(spec).replace("\\n", " ").split())
        calls = text.count("flinkConfig(")
        if calls:
            # The object's spec, or the spec of a FlinkDeployment looked up (a session cluster).
            check(f"{path}: flinkConfig() is given the job spec (its fields become options too)",
                  len(re.findall(r"flinkConfig\(([\w.]+)\.\?flinkConfiguration\.orValue\(null\),"
                                 r"\1\.\?job\.orValue\(null\)[,)]", text)) == calls)
            # The effective configuration: the operator's defaults under the spec, resolved for
            # the resource's version and namespace. no-inline-credentials judges the spec alone;
            # flink-upgrade-keeps-state compares the old spec with the new (the operator's
            # defaults are the same for both, so only what the update itself sets counts).
            if not path.endswith(("/no-inline-credentials.yaml", "/flink-upgrade-keeps-state.yaml")):
                check(f"{path}: flinkConfig() is given the Flink operator's defaults",
                      len(re.findall(r"\.\?job\.orValue\(null\),lookup\('v1','ConfigMap',"
                                     r"params\.operatorConfigMap\.namespace,params\.operatorConfigMap\.name\),"
                                     r"[\w.]+,params\.operatorConfigMap\.file\)", text)) == calls)

# docs/policytest.schema.json agrees with 'streamguard test': every PolicyTest we run
# validates, and the case mistakes 'test' refuses are refused.
ptschema = json.load(open("docs/policytest.schema.json"))
jsonschema.Draft202012Validator.check_schema(ptschema)
ptvalidator = jsonschema.Draft202012Validator(ptschema)
tests = sorted(glob.glob("tests/policies/*.yaml")) + sorted(glob.glob("examples/**/*.yaml", recursive=True)) + \
    ["tests/fixtures/policytest/request-test.yaml", "tests/fixtures/verdicts/namespace-test.yaml"]
seen = 0
for path in tests:
    for i, doc in enumerate(yaml.safe_load_all(open(path))):
        if not isinstance(doc, dict) or doc.get("kind") != "PolicyTest":
            continue
        seen += 1
        errors = [e.message for e in ptvalidator.iter_errors(doc)]
        check(f"{path} document {i + 1} validates as a PolicyTest" + (f" ({errors[0]})" if errors else ""),
              not errors)
check(f"the PolicyTest files were found ({seen})", seen >= 10)
base = {"resource": "r", "policy": "p", "result": "deny"}
for what, case in [("an unknown key", {"extra": 1}), ("an operation that is none of the four", {"operation": "PATCH"}),
                   ("an UPDATE without oldResource", {"operation": "UPDATE"}),
                   ("oldResource on a CREATE", {"oldResource": "r0"}),
                   ("oldResource on a DELETE", {"operation": "DELETE", "oldResource": "r0"}),
                   ("an unknown key of userInfo", {"userInfo": {"name": "x"}}),
                   ("groups that are not a list", {"userInfo": {"groups": "a"}}),
                   ("dryRun that is no boolean", {"dryRun": "yes"}), ("a result that is none", {"result": "fail"})]:
    doc = {"apiVersion": "streamguard.dev/v1alpha1", "kind": "PolicyTest",
           "spec": {"policies": ["p.yaml"], "cases": [dict(base, **case)]}}
    check(f"PolicyTest schema refuses {what}", any(True for _ in ptvalidator.iter_errors(doc)))
ok = dict(base, operation="UPDATE", oldResource="r0", userInfo={"username": "u", "groups": ["g"]}, dryRun=False)
check("PolicyTest schema takes operation, oldResource, userInfo and dryRun",
      not list(ptvalidator.iter_errors({"apiVersion": "streamguard.dev/v1alpha1", "kind": "PolicyTest",
                                        "spec": {"policies": ["p.yaml"], "cases": [ok]}})))

# docs/policyparams.schema.json: the PolicyParams fixtures that load validate; every document
# of bad.yaml, which 'lint' refuses for its shape, is refused (the rest is lint's: the policy
# and its declared params are not in the document).
ppschema = json.load(open("docs/policyparams.schema.json"))
jsonschema.Draft202012Validator.check_schema(ppschema)
ppvalidator = jsonschema.Draft202012Validator(ppschema)
for path in ["tests/fixtures/policy/params/overlay.yaml", "tests/fixtures/policy/params/policies/site.yaml"]:
    for doc in yaml.safe_load_all(open(path)):
        errors = [e.message for e in ppvalidator.iter_errors(doc)]
        check(f"{path} validates as a PolicyParams" + (f" ({errors[0]})" if errors else ""), not errors)
for doc in list(yaml.safe_load_all(open("tests/fixtures/policy/params/bad.yaml")))[4:]:
    check(f"PolicyParams schema refuses {doc.get('metadata', {}).get('name', 'a document without a name')}",
          any(True for _ in ppvalidator.iter_errors(doc)))

finish("schema")

#!/usr/bin/env python3
"""schema_test.py - docs/policy.schema.json agrees with the policy loader: every shipped
policy and every valid fixture validates; the schema mistakes of the lint fixtures do not.
And every shipped policy that can deny and reads flinkConfig() keeps failurePolicy Fail:
flinkConfig() refuses a configuration that Flink versions read differently with an evaluation
error, which failurePolicy Ignore would turn into a warning (docs/expr.md); and every call
passes the job spec, whose fields the operator writes as options as well."""
import glob
import json

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
            check(f"{path}: flinkConfig() is given the job spec (its fields become options too)",
                  text.count("flinkConfig(object.spec.?flinkConfiguration.orValue(null),"
                             "object.spec.?job.orValue(null)") == calls)
            # The effective configuration: the operator's defaults under the spec, resolved for
            # the resource's version and namespace. no-inline-credentials judges the spec alone.
            if not path.endswith("/no-inline-credentials.yaml"):
                check(f"{path}: flinkConfig() is given the Flink operator's defaults",
                      text.count("object.spec.?job.orValue(null),lookup('v1','ConfigMap',"
                                 "params.operatorConfigMap.namespace,params.operatorConfigMap.name),"
                                 "object,params.operatorConfigMap.file)") == calls)

finish("schema")

#!/usr/bin/env python3
"""fuzz_seeds.py - (re)writes the seeds of make fuzz-review and make fuzz-check.

  scripts/fuzz_seeds.py [REFERENCE_DIR]     (default ../shared/reference)

tests/fuzz/review-seeds/: the captured AdmissionReviews (tests/fixtures/admission/ and
REFERENCE_DIR/admission/), and every document of the example manifests (examples/ and
REFERENCE_DIR/examples/) wrapped as kube-apiserver would send it: a v1 CREATE, and for every
third one a v1beta1 UPDATE with itself as oldObject, so that each shipped policy sees its good
and bad objects through both endpoints.
tests/fuzz/check-seeds/: the example manifest files themselves, and each also as JSON (a
kind: List when it has several documents) for the JSON-aware mutator of the targets.
tests/fuzz/admission.dict: the libFuzzer dictionary of both targets: JSON and YAML syntax, the
review's fields, and the names and values the shipped policies read (from policies/*.yaml).
Inputs larger than 24 KiB are left out (the fuzzers' -max_len is 32 KiB); identical contents
are kept once. Run from the repository root; the files are named after their sources.
"""
import hashlib
import json
import os
import re
import sys

import yaml

MAX = 24 << 10
ROOT = os.getcwd()
REF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "reference")


def files(top, exts):
    for d, _, names in sorted(os.walk(top)):
        for n in sorted(names):
            if n.endswith(exts):
                yield os.path.join(d, n)


def label(path):
    """A file name for a seed from where it came from."""
    ref = os.path.abspath(REF)
    if path.startswith(ref + os.sep):
        return "ref-" + os.path.relpath(path, ref).replace(os.sep, "-")
    return os.path.relpath(path, ROOT).replace(os.sep, "-")


def writer(out):
    os.makedirs(out, exist_ok=True)
    for n in os.listdir(out):
        os.remove(os.path.join(out, n))
    seen = set()

    def write(name, data):
        h = hashlib.sha1(data).hexdigest()
        if len(data) > MAX or h in seen:
            return
        seen.add(h)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    return write, seen


def review(obj, n, update):
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    md = obj.get("metadata") or {}
    req = {
        "uid": "00000000-0000-0000-0000-%012d" % n,
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "resource": {"group": group, "version": version,
                     "resource": obj.get("kind", "").lower() + "s"},
        "requestKind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "name": md.get("name", ""),
        "namespace": md.get("namespace", "default"),
        "operation": "UPDATE" if update else "CREATE",
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "object": obj,
        "oldObject": obj if update else None,
        "dryRun": False,
    }
    return {"apiVersion": "admission.k8s.io/v1beta1" if update else "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": req}


def main():
    ref_abs = os.path.abspath(REF)
    manifests = list(files(os.path.join(ROOT, "examples"), (".yaml", ".yml")))
    manifests += list(files(os.path.join(ref_abs, "examples"), (".yaml", ".yml")))
    captured = list(files(os.path.join(ROOT, "tests", "fixtures", "admission"), (".request.json",)))
    captured += list(files(os.path.join(ref_abs, "admission"), (".json",)))

    write, seen = writer(os.path.join(ROOT, "tests", "fuzz", "review-seeds"))
    for p in captured:
        with open(p, "rb") as f:
            write("captured-" + os.path.basename(p), f.read())
    n = 0
    for p in manifests:
        with open(p, "rb") as f:
            try:
                docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
            except yaml.YAMLError:
                continue
        for i, d in enumerate(docs):
            n += 1
            body = json.dumps(review(d, n, n % 3 == 0), default=str).encode()
            write("%s-%d.json" % (label(p), i + 1), body)
    print("review-seeds: %d files" % len(seen))

    write, seen = writer(os.path.join(ROOT, "tests", "fuzz", "check-seeds"))
    for p in manifests:
        with open(p, "rb") as f:
            text = f.read()
        write(label(p), text)
        try:
            docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        if docs:  # the same as JSON, for the JSON-aware mutator (several documents: a List)
            obj = docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}
            write(label(p) + ".json", json.dumps(obj, default=str).encode())
    print("check-seeds: %d files" % len(seen))
    dictionary()


SYNTAX = ['{', '}', '[', ']', ':', ',', '"', '""', 'null', 'true', 'false', '-1', '0', '1e999',
          '"\\u0000"', '"\\ud800"', '\n- ', ': ', '\n---\n', '&a ', '*a', '<<: *a', '!!str ', '|\n',
          '>-\n', '? ', '%YAML 1.2\n', '"apiVersion"', '"kind"', '"AdmissionReview"',
          '"admission.k8s.io/v1"', '"admission.k8s.io/v1beta1"', '"request"', '"uid"',
          '"operation"', '"CREATE"', '"UPDATE"', '"DELETE"', '"CONNECT"', '"object"',
          '"oldObject"', '"userInfo"', '"username"', '"groups"', '"dryRun"', '"options"',
          '"resource"', '"requestKind"', '"subResource"', '"name"', '"namespace"', '"group"',
          '"version"', '"metadata"', '"spec"', 'List', 'items', 'apiVersion', 'kind',
          'flink.apache.org/v1beta1', 'k8ssandra.io/v1alpha1', 'cassandra.datastax.com/v1beta1',
          's3://b/p', 'file:///flink-data/ha', 'hdfs://nn/p', '2048m', '1g', '1Gi', '512M', '0.5',
          '100m', 'last-state', 'REACTIVE', 'kubernetes', 'ReadWriteOnce', 'hostPath', 'emptyDir']


def dictionary():
    words = set()
    for p in sorted(files(os.path.join(ROOT, "policies"), (".yaml", ".yml"))):
        with open(p) as f:
            t = f.read()
        words.update(re.findall(r"'([A-Za-z0-9_./:-]{2,48})'", t))
        words.update(re.findall(r"\.\??([A-Za-z_][A-Za-z0-9_]{1,40})", t))
    with open(os.path.join(ROOT, "tests", "fuzz", "admission.dict"), "w") as f:
        f.write("# libFuzzer dictionary of fuzz-review and fuzz-check (scripts/fuzz_seeds.py)\n")
        for w in SYNTAX + sorted(words - set(SYNTAX)):
            f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\x0A"))
    print("admission.dict: %d entries" % (len(SYNTAX) + len(words - set(SYNTAX))))


if __name__ == "__main__":
    main()

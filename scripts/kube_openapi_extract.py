#!/usr/bin/env python3
"""kube_openapi_extract.py - the part of Kubernetes' OpenAPI v2 document that lint needs.

  scripts/kube_openapi_extract.py SWAGGER_JSON VERSION KIND... > schemas/kube/kube-VERSION.json

Writes, as an OpenAPI v2 document, the definitions of every group and version of each KIND
(those whose x-kubernetes-group-version-kind names it) and every definition they reach through
"$ref", closed under it, so that scripts/schemagen.c can resolve each reference from the file
alone. The definitions are copied as they are, but for their "description" texts (which lint
never reads and which are four fifths of the bytes). The source is named by VERSION and by the
sha256 of its bytes in info.x-streamguard-source; keys are sorted, so the same source and kinds
always give the same bytes (tests/integration/kube_schema_test.sh, in make test, reruns it and
compares the result with the vendored file). Standard library only.
"""
import hashlib
import json
import sys

REF = "#/definitions/"


def strip(node):
    """'node' without the description texts of its schemas (a property called "description"
    is a schema, a dict, and stays)."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items()
                if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def refs(node, out):
    """Adds to 'out' the definition names 'node' refers to."""
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            if not r.startswith(REF):
                sys.exit(f"kube_openapi_extract: a $ref outside the definitions: {r}")
            out.add(r[len(REF):])
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    path, version, kinds = argv[1], argv[2], argv[3:]
    with open(path, "rb") as f:
        raw = f.read()
    defs = json.loads(raw)["definitions"]
    roots = set()
    for kind in kinds:
        found = [name for name, d in defs.items()
                 if any(g.get("kind") == kind for g in d.get("x-kubernetes-group-version-kind", []))]
        if not found:
            sys.exit(f"kube_openapi_extract: no definition of kind {kind} in {path}")
        roots.update(found)
    todo, keep = list(roots), set()
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in defs:
            sys.exit(f"kube_openapi_extract: {name} is referred to but not defined")
        keep.add(name)
        more = set()
        refs(defs[name], more)
        todo.extend(sorted(more - keep))
    doc = {
        "swagger": "2.0",
        "info": {
            "title": "Kubernetes",
            "version": version,
            "x-streamguard-source": {
                "file": path.split("/")[-1],
                "sha256": hashlib.sha256(raw).hexdigest(),
                "kinds": sorted(kinds),
            },
        },
        "paths": {},
        "definitions": {name: strip(defs[name]) for name in sorted(keep)},
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)

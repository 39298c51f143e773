#!/usr/bin/env python3
"""crds.py CRD-FILE... - prints the CustomResourceDefinitions in the files as one JSON List for
'kubectl create -f -', unchanged but for the one patch their project applies when it installs
them: the CassandraDatacenter CRD gets cass-operator's kustomize patch
(config_removal.patch.yaml beside it: spec.config removed from the schema)."""
import json
import os
import sys

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def json_patch_remove(doc, ops):
    for op in ops:
        if op.get("op") != "remove":
            sys.exit(f"crds.py: only 'remove' patches are known, not {op}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            del node[int(parts[-1])]
        else:
            del node[parts[-1]]


items = []
for path in sys.argv[1:]:
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=Loader) if d]
    patch = os.path.join(os.path.dirname(path), "config_removal.patch.yaml")
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        if doc["metadata"]["name"] == "cassandradatacenters.cassandra.datastax.com" and \
                os.path.exists(patch):
            with open(patch) as f:
                json_patch_remove(doc, yaml.load(f, Loader=Loader))
        items.append(doc)
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)

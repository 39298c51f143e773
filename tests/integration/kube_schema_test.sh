#!/bin/sh
# kube_schema_test.sh - the vendored extract of Kubernetes' OpenAPI document (schemas/kube/) is
# what scripts/kube_openapi_extract.py makes of the source schemas/README.md names: same bytes,
# and the sha256 the README records is the one the extract carries. Without the source on this
# machine only the second is checked (the note says so).
set -eu
readme=schemas/README.md
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0
for f in schemas/kube/kube-*.json; do
    version=$(basename "$f" .json | sed 's/^kube-//')
    # the README's row for it: | `kube/kube-V.json` | source path | sha256 | kinds |
    row=$(grep -F "|\`${f#schemas/}\` |" "$readme" | head -1) || true
    if [ -z "$row" ]; then
        echo "FAIL: $readme has no row for $f"; fail=1; continue
    fi
    src=$(echo "$row" | awk -F'|' '{print $3}' | tr -d ' `')
    sum=$(echo "$row" | awk -F'|' '{print $4}' | tr -d ' `')
    kinds=$(echo "$row" | awk -F'|' '{print $5}' | tr -d '`,')
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["x-streamguard-source"]["sha256"])' "$f")
    if [ "$got" != "$sum" ]; then
        echo "FAIL: $f was extracted from sha256 $got, $readme says $sum"; fail=1
    fi
    if [ ! -r "$src" ]; then
        echo "note: $src is not on this machine: $f not regenerated"
        continue
    fi
    # shellcheck disable=SC2086 # kinds are words
    scripts/kube_openapi_extract.py "$src" "v$version" $kinds >"$out"
    if ! cmp -s "$out" "$f"; then
        echo "FAIL: $f differs from what scripts/kube_openapi_extract.py makes of $src"; fail=1
    else
        echo "ok: $f is the extract of $src ($kinds)"
    fi
done
exit $fail

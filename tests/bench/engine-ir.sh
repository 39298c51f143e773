#!/bin/sh
# engine-ir.sh [POLICY_DIR] [REVIEW] - instructions (callgrind Ir) of the engine per decision pair
# (one /validate and one /mutate, admission_decide only, no parse) of REVIEW (default the
# typical FlinkDeployment review) with every policy in POLICY_DIR (default policies/): the
# timed part of build/bench_engine (time_engine_counted) under callgrind, 100 pairs. One
# policy's share: a directory holding only it. Deterministic, unlike timings on a shared
# machine. Run from the repository's root after `make build/bench_engine`.
dir=${1:-policies}
rev=${2:-tests/bench/flinkdeployment-typical-v1.json}
out=$(mktemp /tmp/engine-ir.XXXXXX)
valgrind --tool=callgrind --toggle-collect=time_engine_counted --callgrind-out-file="$out" \
    ./build/bench_engine 100 "$dir" "$rev" >/dev/null 2>&1
tot=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "Ir per validate+mutate decision pair: $((tot / 200))"
rm -f "$out"

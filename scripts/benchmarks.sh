#!/usr/bin/env bash
# Every benchmark in one go: one JSON file per benchmark (rows, and the paper claims with what
# this run measured) in DIR (default build/benchmarks), written whole or not at all. DIR is new
# or one moetile wrote: a folder holding other files is refused before any benchmark runs.
# Usage: scripts/benchmarks.sh [--quick] [DIR [NAME...]]; NAMEs pick benchmarks (default: all
# of them); --quick runs each on its smaller workload and design (moetile bench --quick).
set -euo pipefail
quick=()
if [ "${1:-}" = --quick ]; then
    quick=(--quick)
    shift
fi
out=${1:-build/benchmarks}
python -m moetile.sw.outputs check "$out"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.benchmarks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ $# -gt 1 ]; then
    names="${*:2}"
else
    names=$(python -c 'from moetile.app.bench import BENCHES; print(" ".join(BENCHES))')
fi
for name in $names; do
    echo "benchmark $name" >&2
    moetile bench "$name" --json "${quick[@]}" > "$tmp/$name.json"
done
python -m moetile.sw.outputs install "$tmp" "$out"
echo "$out: $(echo "$names" | wc -w) benchmarks"

#!/usr/bin/env bash
# Run every fuzz target of the module for a bounded number of executions each.
#   scripts/fuzz.sh [EXECUTIONS]   (default 100000x; e.g. 1000000x for a long run)
# Counts, not durations: Go 1.26's runner can fail a time-bounded run with a
# spurious "context deadline exceeded" (golang/go#75804).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000x}"
case "$n" in *x) ;; *) n="${n}x" ;; esac
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "== $pkg $target ($n)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$n" "$pkg"
  done
done

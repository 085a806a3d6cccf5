#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 5s), so
# CI exercises the decoders beyond their seed corpus. A crash leaves its
# input under the package's testdata/fuzz/ and fails the run.
#
# The targets are found in the sources (func FuzzXxx in a _test.go file)
# rather than with `go test -list`, which would compile every package's
# tests once more only to list them.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
count=0
while read -r pkg dir; do
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go 2>/dev/null); do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! out=$(go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" 2>&1); then
      printf '%s\n' "$out" >&2
      echo "fuzz: $pkg $target failed" >&2
      exit 1
    fi
    count=$((count + 1))
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
if [ "$count" -eq 0 ]; then
  echo "fuzz: no fuzz target found" >&2
  exit 1
fi
echo "fuzz: $count targets ran without a crash"

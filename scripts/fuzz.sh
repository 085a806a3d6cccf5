#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 5s), so
# CI exercises the decoders beyond their seed corpus. A crash leaves its
# input under the package's testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
count=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >/dev/null
    count=$((count + 1))
  done
done
echo "fuzz: $count targets ran without a crash"

#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 5s), so
# CI exercises the decoders beyond their seed corpus. A crash leaves its
# input under the package's testdata/fuzz/ and fails the run.
#
# The targets are found in the sources (func FuzzXxx in a _test.go file)
# rather than with `go test -list`, which would compile every package's
# tests once more only to list them.
#
# On a loaded machine Go's fuzzing engine sometimes loses a worker and
# fails without having found anything (golang/go#56238, #52569): a failure
# that wrote no failing input is run once more; a second failure, or any
# failure with an input, fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
count=0

# inputs DIR TARGET: the failing inputs the fuzzer has written for TARGET.
inputs() {
  ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}

while read -r pkg dir; do
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go 2>/dev/null); do
    echo "fuzz: $pkg $target ($fuzztime)"
    for try in 1 2; do
      before=$(inputs "$dir" "$target")
      if out=$(go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" 2>&1); then
        break
      fi
      printf '%s\n' "$out" >&2
      if [ "$try" -eq 1 ] && [ "$(inputs "$dir" "$target")" = "$before" ]; then
        echo "fuzz: $pkg $target failed without a failing input: the fuzzing engine's, running it again" >&2
        continue
      fi
      echo "fuzz: $pkg $target failed" >&2
      exit 1
    done
    count=$((count + 1))
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
if [ "$count" -eq 0 ]; then
  echo "fuzz: no fuzz target found" >&2
  exit 1
fi
echo "fuzz: $count targets ran without a crash"

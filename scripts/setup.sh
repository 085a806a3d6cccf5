#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent:
# each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not installed (expected /usr/local/go/bin on PATH)" >&2
  exit 1
fi
go mod download

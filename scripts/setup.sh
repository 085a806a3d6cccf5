#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent:
# each step is skipped when what it installs is already there.
#
#   - the Go modules;
#   - promtool (Debian's prometheus package): the end-to-end tests lint the
#     exporter's /metrics with `promtool check metrics`;
#   - amtool and alertmanager (Debian's prometheus-alertmanager package),
#     for the alerting rules and their tests;
#   - chromium (Debian's chromium package): the status page is tested in
#     a real headless browser.
#
# The packages ship services (prometheus on :9090, alertmanager on :9093).
# Only their tools are wanted: the services are kept from starting during
# the installation (policy-rc.d, which also lets the installation work in a
# container without systemd), and stopped and disabled afterwards if they
# started anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not installed (expected /usr/local/go/bin on PATH)" >&2
  exit 1
fi
go mod download

# needs PACKAGE TOOL...: whether PACKAGE is to be installed, because one of
# its TOOLs is not on PATH or because dpkg left it half installed (an
# interrupted or failed installation).
needs() {
  local pkg=$1 tool status
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || return 0
  done
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  case $status in
    "" | installed | not-installed | config-files) return 1 ;;
  esac
  return 0
}

packages=()
if needs prometheus promtool; then
  packages+=(prometheus)
fi
if needs prometheus-alertmanager amtool prometheus-alertmanager; then
  packages+=(prometheus-alertmanager)
fi
if needs chromium chromium; then
  packages+=(chromium)
fi
if [ ${#packages[@]} -eq 0 ]; then
  echo "setup: promtool, amtool, prometheus-alertmanager and chromium already installed"
  exit 0
fi

# as_root runs a command as root: directly, or through sudo.
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  as_root() { sudo "$@"; }
else
  echo "setup: installing ${packages[*]} (for promtool, amtool and chromium) needs root: run this script as root, install sudo, or install the packages yourself" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: apt-get not found: install ${packages[*]} (promtool, amtool, chromium) by other means" >&2
  exit 1
fi

# policy-rc.d answering 101 ("action forbidden") keeps invoke-rc.d and
# deb-systemd-invoke from starting the packages' services. One that already
# forbids is left alone; one that does not is set aside for the time of the
# installation and put back on exit; the one written here is removed on exit.
policy=/usr/sbin/policy-rc.d
saved_policy=
wrote_policy=false
restore_policy() {
  if [ "$wrote_policy" = true ]; then
    as_root rm -f "$policy"
    wrote_policy=false
  fi
  if [ -n "$saved_policy" ]; then
    as_root mv "$saved_policy" "$policy"
    saved_policy=
  fi
}
trap restore_policy EXIT
policy_rc=0
if [ -e "$policy" ]; then
  "$policy" prometheus start >/dev/null 2>&1 || policy_rc=$?
fi
if [ "$policy_rc" -ne 101 ]; then
  if [ -e "$policy" ]; then
    saved_policy="$policy.covoiturage-setup.$$"
    as_root mv "$policy" "$saved_policy"
  fi
  wrote_policy=true
  printf '#!/bin/sh\n# Written by scripts/setup.sh of covoiturage_exporter for the time of an installation.\nexit 101\n' |
    as_root tee "$policy" >/dev/null
  as_root chmod 0755 "$policy"
fi

echo "setup: installing ${packages[*]}"
as_root apt-get update
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
restore_policy

# The services are wanted neither now nor at the next boot: stop and
# disable those a service manager started or enabled anyway.
for svc in "${packages[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    if systemctl is-active --quiet "$svc"; then
      echo "setup: stopping the $svc service the package started"
      as_root systemctl stop "$svc"
    fi
    if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
      as_root systemctl disable --quiet "$svc" || true
    fi
  elif [ -x "/etc/init.d/$svc" ] && as_root "/etc/init.d/$svc" status >/dev/null 2>&1; then
    echo "setup: stopping the $svc service the package started"
    as_root "/etc/init.d/$svc" stop
  fi
done

for tool in promtool amtool prometheus-alertmanager; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup: $tool is still not on PATH after installing ${packages[*]}" >&2
    exit 1
  fi
done
echo "setup: $(promtool --version 2>&1 | head -n 1)"
echo "setup: $(amtool --version 2>&1 | head -n 1)"

#!/usr/bin/env bash
# Make `node` and `npm` available for the FLORA SDK contract test (tests/sdk). Installs the
# distribution's packages when they are missing and we are root with apt; otherwise says why
# not and exits 1, so the test setup can report it.
set -euo pipefail

found() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

if found; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-node: installing nodejs and npm from the distribution's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # A nodejs package that already bundles npm (e.g. NodeSource's) conflicts with Debian's npm:
  # install npm only when it is still missing.
  command -v node >/dev/null 2>&1 || apt-get install -y -qq nodejs >/dev/null
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq npm >/dev/null
  found && exit 0
fi
echo "ensure-node: node/npm not found and cannot install them (need root and apt-get)" >&2
exit 1

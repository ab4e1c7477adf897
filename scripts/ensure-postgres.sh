#!/usr/bin/env bash
# Make PostgreSQL's server binaries (initdb, pg_ctl) available for the multi-replica tests.
# Installs the distribution's package when they are missing and we are root with apt; otherwise
# says why not and leaves the tests to skip with that reason.
set -euo pipefail

found() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if found; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgres: installing postgresql from the distribution's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  found && exit 0
fi
echo "ensure-postgres: initdb/pg_ctl not found and cannot install them (need root and apt-get);" \
     "the PostgreSQL tests will be skipped" >&2
exit 0

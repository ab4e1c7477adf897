#!/usr/bin/env bash
# Make Debian's Chromium available for the console's browser tests (tests/console/), which drive
# it with Playwright: Playwright's own browser download cannot work offline. Installs the
# distribution's package when it is missing and we are root with apt; otherwise says why not and
# leaves the tests to skip with that reason.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing chromium from the distribution's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] && exit 0
fi
echo "ensure-chromium: /usr/bin/chromium not found and cannot install it (need root and" \
     "apt-get); the console's browser tests will be skipped" >&2
exit 0
